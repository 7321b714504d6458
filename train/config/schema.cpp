// The schema of a config file. Names follow PaddleDetection's configs where it
// has one (architecture, TrainReader, LearningRate, OptimizerBuilder, ...), so a
// reference recipe reads the same here. Sections other modules own (pretrain,
// quant, prune, distill) are added by add_section (compress/config_sections.h).
#include "train/config/schema.h"

#include <stdexcept>

namespace compress::config {
namespace {

// SSD-style augmentations follow the reference's operator names and defaults.
std::vector<std::pair<std::string, Field>> sample_transform_variants() {
  return {
      {"DistortImage", Section({{"brightness_lower", Float(0.5)},
                                {"brightness_upper", Float(1.5)},
                                {"brightness_prob", Float(0.5).within(0, 1)},
                                {"contrast_lower", Float(0.5)},
                                {"contrast_upper", Float(1.5)},
                                {"contrast_prob", Float(0.5).within(0, 1)},
                                {"saturation_lower", Float(0.5)},
                                {"saturation_upper", Float(1.5)},
                                {"saturation_prob", Float(0.5).within(0, 1)},
                                {"hue_lower", Float(-18, "degrees")},
                                {"hue_upper", Float(18, "degrees")},
                                {"hue_prob", Float(0.5).within(0, 1)}},
                               "photometric distortion on RGB uint8")},
      {"MixupImage", Section({{"alpha", Float(1.5)}, {"beta", Float(1.5)}},
                             "blend with another training image by f ~ Beta(alpha, beta); boxes weigh f and 1 - f "
                             "(YOLOv3 only; first in the list; see TrainReader.mixup_epoch)")},
      {"ExpandImage", Section({{"max_ratio", Float(4.0).at_least(1)},
                               {"prob", Float(0.5).within(0, 1)},
                               {"mean", FloatList({123.675, 116.28, 103.53}, "fill colour, RGB 0..255")}},
                              "place the image on a larger canvas (zoom out)")},
      {"CropImage",
       Section({{"batch_sampler", FloatListList({{1, 1, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0},
                                                 {1, 50, 0.3, 1.0, 0.5, 2.0, 0.1, 0.0},
                                                 {1, 50, 0.3, 1.0, 0.5, 2.0, 0.3, 0.0},
                                                 {1, 50, 0.3, 1.0, 0.5, 2.0, 0.5, 0.0},
                                                 {1, 50, 0.3, 1.0, 0.5, 2.0, 0.7, 0.0},
                                                 {1, 50, 0.3, 1.0, 0.5, 2.0, 0.9, 0.0},
                                                 {1, 50, 0.3, 1.0, 0.5, 2.0, 0.0, 1.0}},
                                                "[max_sample, max_trial, min_scale, max_scale, min_aspect, max_aspect, "
                                                "min_overlap, max_overlap]; overlap 0 = unconstrained")},
                {"satisfy_all", Bool(false)},
                {"avoid_no_bbox", Bool(true)}},
               "SSD random IoU crop")},
      {"RandomFlipImage", Section({{"prob", Float(0.5).within(0, 1)}})},
      {"ResizeImage", Section({{"target_size", Int(320).at_least(1)},
                               {"interp", Str("linear", {"nearest", "linear", "cubic", "area"})}})},
      {"NormalizeImage", Section({{"mean", FloatList({0.485, 0.456, 0.406})},
                                  {"std", FloatList({0.229, 0.224, 0.225})},
                                  {"is_scale", Bool(true, "divide by 255 first")}})},
  };
}

std::vector<std::pair<std::string, Field>> batch_transform_variants() {
  return {
      {"RandomShape", Section({{"sizes", IntList({320, 352, 384, 416, 448, 480, 512, 544, 576, 608}).at_least(1)},
                               {"random_inter", Bool(false, "random interpolation per batch")}},
                              "YOLO multi-scale: one random square size per batch")},
  };
}

Field reader(bool train) {
  return Section({
      {"dataset",
       TypedMap(
           {{"COCODataSet", Section({{"dataset_dir", Str("", {}, "prefix for image_dir and anno_path")},
                                     {"image_dir", Str("")},
                                     {"anno_path", Str("")},
                                     {"skip_empty", Bool(train, "drop images without (non-crowd) boxes")},
                                     {"strict", Bool(false, "unreadable images are errors, not skipped")},
                                     {"sample_num", Int(-1,
                                                        "load only the first N images (after skip_empty), and evaluate "
                                                        "on those; -1 = all")
                                                        .at_least(-1)}})}},
           "COCODataSet")},
      {"sample_transforms", TypedList(sample_transform_variants(),
                                      train ? "[{type: DistortImage}, {type: ExpandImage}, {type: CropImage}, "
                                              "{type: ResizeImage}, {type: RandomFlipImage}, {type: NormalizeImage}]"
                                            : "[{type: ResizeImage}, {type: NormalizeImage}]")},
      {"batch_transforms", TypedList(batch_transform_variants(), "[]")},
      {"batch_size", Int(train ? 8 : 1, "images per step (per process when distributed)").within(1, 4096)},
      {"shuffle", Bool(train, "a new order every epoch, from the seed")},
      {"drop_last", Bool(train, "drop the last, smaller batch of an epoch")},
      {"worker_num", Int(2, "loader threads").within(0, 256)},
      {"bufsize", Int(4, "batches prefetched per worker").within(1, 1024)},
      {"mixup_epoch", Int(-1, "epochs [0, mixup_epoch) that MixupImage mixes; -1 = never").at_least(-1)},
  });
}

Field build_root() {
  return Section({
      {"architecture", Str("SSD", {"SSD", "YOLOv3", "CascadeRCNN"}, "detector family")},
      {"num_classes", Int(80, "object classes, background excluded").at_least(1)},
      {"use_gpu", Bool(false, "train and evaluate on CUDA (needs a CUDA build of LibTorch)")},
      {"max_iters", Int(1000, "training steps").at_least(0)},
      {"snapshot_iter", Int(500, "steps between checkpoints (and evaluations with --eval)").at_least(0)},
      {"log_iter", Int(20, "steps between progress lines and metrics.jsonl rows").at_least(1)},
      {"save_dir", Str("output", {}, "runs go to save_dir/<config name>")},
      {"weights", Str("", {}, "checkpoint for eval/infer/export")},
      {"pretrain_weights", Str("", {}, "checkpoint to start training from")},
      {"metric", Str("COCO", {"COCO"})},
      {"seed", Int(0, "seeds init, data order and augmentation; a run is reproducible from it")},
      {"LearningRate",
       Section({{"base_lr", Float(0.01, "learning rate before the schedulers' factors").at_least(0)},
                {"schedulers",
                 TypedList({{"CosineDecay", Section({{"max_iters", Int(0, "0 = max_iters").at_least(0)}})},
                            {"PiecewiseDecay", Section({{"gamma", Float(0.1)}, {"milestones", IntList({})}})},
                            {"LinearWarmup",
                             Section({{"start_factor", Float(1.0 / 3).within(0, 1)}, {"steps", Int(0).at_least(0)}})}},
                           "[{type: CosineDecay}]")}})},
      {"OptimizerBuilder",
       Section({{"optimizer", Section({{"type", Str("Momentum", {"Momentum", "Adam"})},
                                       {"momentum", Float(0.9, "Momentum only").within(0, 1)},
                                       {"beta1", Float(0.9, "Adam only").within(0, 1)},
                                       {"beta2", Float(0.999, "Adam only").within(0, 1)},
                                       {"epsilon", Float(1e-8, "Adam only").at_least(0)}})},
                {"regularizer", Section({{"type", Str("L2", {"L2", "none"})}, {"factor", Float(5e-4).at_least(0)}})},
                {"clip_grad_norm", Float(0.0, "0 = no clipping").at_least(0)}})},
      {"WeightInit",
       Section({{"scheme", Str("default", {"default", "torchvision"},
                               "default: LibTorch's init; torchvision: as ssdlite320_mobilenet_v3_large from "
                               "scratch (every conv, backbone included, N(0, std), biases 0; SSD only)")},
                {"std", Float(0.03, "std of every conv under scheme torchvision").at_least(0)}})},
      {"BatchNorm",
       Section({{"momentum", Float(0.1,
                                   "every BN's running-statistics update, LibTorch's sense (the reference's Paddle "
                                   "momentum 0.9 is 0.1 here; torchvision's SSDLite uses 0.03)")
                                 .within(0, 1)},
                {"epsilon", Float(1e-5, "every BN's epsilon (torchvision's SSDLite: 0.001)").at_least(0)}})},
      {"SSD",
       Section(
           {{"backbone", Str("MobileNetV3", {"MobileNetV3"})},
            {"multi_box_head", Str("SSDLiteMultiBoxHead", {"SSDLiteMultiBoxHead"})},
            {"output_decoder",
             Section({{"background_label", Int(0, "always 0: class 0 is background")},
                      {"keep_top_k", Int(200, "detections kept per image after NMS")},
                      {"nms_threshold", Float(0.45, "IoU above which NMS suppresses").within(0, 1)},
                      {"nms_top_k", Int(400, "highest-scoring boxes per class entering NMS")},
                      {"score_threshold", Float(0.01, "boxes scoring less are dropped first").within(0, 1)}})},
            {"loss",
             Section({{"overlap_threshold", Float(0.5, "prior-GT IoU that makes a prior positive").within(0, 1)},
                      {"neg_pos_ratio", Float(3.0, "hard negatives mined per positive").at_least(0)},
                      {"neg_overlap", Float(0.5, "priors below this IoU may be mined as negatives").within(0, 1)}})}})},
      {"MobileNetV3",
       Section(
           {{"model_name", Str("large", {"large", "small"})},
            {"scale", Float(1.0, "width multiplier of every layer (0.5, 0.75, 1.0, ...)")},
            {"reduced_tail", Bool(false,
                                  "halve the stride-32 stage (MobileNetV3 paper Table 6; torchvision's "
                                  "from-scratch SSDLite): Large 160/960 -> 80/480 channels; no effect on Cascade "
                                  "R-CNN, whose backbone stops at stride 16")},
            {"conv_decay", Float(4e-5, "L2 on conv weights of backbone and head; 0 = the global factor")},
            {"lr_mult_list", FloatList({1.0, 1.0, 1.0, 1.0, 1.0}, "LR multipliers, one per 3 backbone units")},
            {"extra_block_filters", IntListList({{256, 512}, {128, 256}, {128, 256}, {64, 128}})},
            {"feature_maps", IntList({1, 2, 3, 4, 6},
                                     "YOLOv3 taps the last three: 3 = stride 8, 4 = stride 16, 6 = conv_last "
                                     "(SSDLite's taps are fixed: the s16->s32 expand, conv_last, extra blocks)")},
            {"freeze_norm", Bool(false, "BN keeps its statistics and affine parameters (Cascade R-CNN's backbone)")},
            {"norm_type", Str("bn", {"bn"}, "batch norm (sync_bn comes with distributed training)")}})},
      {"ResNet",
       Section({{"depth", Int(34, "18 or 34 (BasicBlocks)")},
                {"zero_init_residual", Bool(false, "start each block's last BN scale at 0 (from-scratch training)")},
                {"feature_maps", IntList({3, 4, 5}, "stages tapped; YOLOv3 uses res3, res4, res5")},
                {"norm_type", Str("bn", {"bn"}, "batch norm (sync_bn comes with distributed training)")}})},
      {"YOLOv3", Section({{"backbone", Str("MobileNetV3", {"MobileNetV3", "ResNet"})},
                          {"yolo_head", Str("YOLOv3Head", {"YOLOv3Head"})}})},
      {"YOLOv3Head",
       Section({{"anchors",
                 FloatListList(
                     {{10, 13}, {16, 30}, {33, 23}, {30, 61}, {62, 45}, {59, 119}, {116, 90}, {156, 198}, {373, 326}},
                     "(w, h) in input pixels")},
                {"anchor_masks", IntListList({{6, 7, 8}, {3, 4, 5}, {0, 1, 2}}, "per scale, stride 32 first")},
                {"norm_decay", Float(0.0, "L2 on BN scale/bias (always 0 here: BN is never decayed)")},
                {"obj_prior", Float(0.0,
                                    "initial objectness probability of every cell, set through the output "
                                    "bias -log((1-p)/p); 0 = the reference's default init")},
                {"nms",
                 Section({{"background_label", Int(-1, "always -1: YOLO has no background class")},
                          {"keep_top_k", Int(100, "detections kept per image after NMS")},
                          {"nms_threshold", Float(0.45, "IoU above which NMS suppresses").within(0, 1)},
                          {"nms_top_k", Int(1000, "highest-scoring boxes per class entering NMS")},
                          {"normalized", Bool(false, "always false: boxes in pixels")},
                          {"score_threshold", Float(0.01, "boxes scoring less are dropped first").within(0, 1)}})}})},
      {"YOLOv3Loss",
       Section({{"ignore_thresh", Float(0.7, "objectness of predictions overlapping a GT by more is not penalised")},
                {"label_smooth", Bool(true, "class targets 1 - 1/C and 1/C")}})},
      {"CascadeRCNN",
       Section({{"backbone", Str("MobileNetV3", {"MobileNetV3"})},
                {"fpn", Str("FPN", {"FPN"})},
                {"rpn_head", Str("FPNRPNHead", {"FPNRPNHead"})},
                {"roi_extractor", Str("FPNRoIAlign", {"FPNRoIAlign"})},
                {"bbox_head", Str("CascadeBBoxHead", {"CascadeBBoxHead"})},
                {"bbox_assigner", Str("CascadeBBoxAssigner", {"CascadeBBoxAssigner"})}},
               "Cascade R-CNN; MobileNetV3.feature_maps are its FPN taps (2 = stride 4, 3 = 8, 4 = 16)")},
      {"FPN",
       Section({{"num_chan", Int(48, "channels of every pyramid level")},
                {"min_level", Int(2, "level of the first backbone tap (stride 2^level)")},
                {"max_level", Int(6, "level of the last pyramid output")},
                {"has_extra_convs", Bool(true, "levels above the taps by 3x3 stride-2 convs, else max pooling")}})},
      {"FPNRPNHead",
       Section(
           {{"anchor_start_size", Float(32, "anchor size at min_level, doubling per level")},
            {"aspect_ratios", FloatList({0.5, 1.0, 2.0}, "anchor h / w")},
            {"num_chan", Int(48, "the shared 3x3 conv's channels")},
            {"min_level", Int(2, "must equal FPN.min_level")},
            {"max_level", Int(6, "must equal FPN.max_level")},
            {"rpn_target_assign",
             Section({{"rpn_batch_size_per_im", Int(256, "anchors sampled per image for the RPN loss").at_least(1)},
                      {"rpn_fg_fraction", Float(0.5, "at most this share of them positive").within(0, 1)},
                      {"rpn_positive_overlap", Float(0.7, "anchor-GT IoU that makes an anchor positive").within(0, 1)},
                      {"rpn_negative_overlap", Float(0.3, "anchors below it are negatives").within(0, 1)},
                      {"rpn_straddle_thresh", Float(0.0,
                                                    "anchors reaching further outside the image (px) "
                                                    "are ignored; -1 keeps all")}})},
            {"train_proposal", Section({{"pre_nms_top_n", Int(2000, "per level")},
                                        {"post_nms_top_n", Int(2000, "per level, then over all levels")},
                                        {"nms_thresh", Float(0.7, "proposal NMS IoU").within(0, 1)},
                                        {"min_size", Float(0.0, "pixels")}})},
            {"test_proposal", Section({{"pre_nms_top_n", Int(300, "per level")},
                                       {"post_nms_top_n", Int(100, "per level, then over all levels")},
                                       {"nms_thresh", Float(0.7, "proposal NMS IoU").within(0, 1)},
                                       {"min_size", Float(0.0, "pixels")}})}})},
      {"FPNRoIAlign",
       Section({{"canconical_level", Int(3, "the reference's spelling: level of a RoI of canonical_size")},
                {"canonical_size", Float(112, "side of a RoI assigned to canconical_level, pixels")},
                {"min_level", Int(2, "lowest pyramid level a RoI is pooled from")},
                {"max_level", Int(5, "highest pyramid level a RoI is pooled from")},
                {"box_resolution", Int(7, "pooled RoI side").at_least(1)},
                {"sampling_ratio", Int(2, "bilinear samples per bin side").at_least(1)}})},
      {"CascadeBBoxAssigner",
       Section({{"batch_size_per_im", Int(512, "RoIs sampled per image at each stage")},
                {"fg_fraction", Float(0.25, "at most this share of sampled RoIs foreground").within(0, 1)},
                {"fg_thresh", FloatList({0.5, 0.6, 0.7}, "per stage")},
                {"bg_thresh_hi", FloatList({0.5, 0.6, 0.7}, "per stage")},
                {"bg_thresh_lo", FloatList({0.0, 0.0, 0.0}, "per stage")},
                {"bbox_reg_weights", FloatList({10, 20, 30}, "per stage w: delta weights [w, w, w/2, w/2]")}})},
      {"CascadeBBoxHead",
       Section({{"head", Str("CascadeTwoFCHead", {"CascadeTwoFCHead"})},
                {"mlp_dim", Int(128, "width of fc6 and fc7")},
                {"stage_loss_weights", FloatList({1.0, 0.5, 0.25})},
                {"nms",
                 Section({{"keep_top_k", Int(100, "detections kept per image after NMS")},
                          {"nms_threshold", Float(0.5, "IoU above which NMS suppresses").within(0, 1)},
                          {"score_threshold", Float(0.05, "boxes scoring less are dropped first").within(0, 1)}})}})},
      {"BalancedL1Loss",
       Section({{"alpha", Float(0.5)}, {"beta", Float(1.0)}, {"gamma", Float(1.5)}}, "Cascade R-CNN's box loss")},
      {"SSDLiteMultiBoxHead",
       Section({{"aspect_ratios", FloatListList({{2}, {2, 3}, {2, 3}, {2, 3}, {2, 3}, {2, 3}})},
                {"base_size", Float(0,
                                    "input size the prior sizes are fractions of; 0 = the EvalReader's ResizeImage "
                                    "target_size, so one key sets the input size")
                                  .at_least(0)},
                {"steps", FloatList({16, 32, 64, 107, 160, 320}, "pixels; [] = input size / map size")},
                {"flip", Bool(true, "add the reciprocal of every aspect ratio")},
                {"min_ratio", Float(20, "smallest prior, percent of base_size")},
                {"max_ratio", Float(95, "largest prior, percent of base_size")},
                {"size_rule", Str("reference", {"reference", "linspace"},
                                  "min_ratio/max_ratio to sizes: reference = first map 10%/20%, then floor steps "
                                  "(PaddleDetection); linspace = evenly over every map, the SSD paper's eq. 4 "
                                  "(torchvision's SSDLite: 20/95 gives 64-304 px at 320)")},
                {"min_sizes", FloatList({}, "prior sizes in input pixels, one per map; [] = from min_ratio/max_ratio")},
                {"max_sizes", FloatList({}, "with min_sizes: the sqrt(min * max) square's partner, pixels")},
                {"offset", Float(0.5, "prior centres at (i + offset) * step")},
                {"clip", Bool(true, "clip priors to the image")}})},
      {"distributed",
       Section(
           {{"backend", Str("gloo", {"gloo", "nccl"}, "c10d backend when WORLD_SIZE > 1 (nccl needs a CUDA build)")},
            {"timeout_s", Float(60.0,
                                "a collective waiting longer than this fails, naming the rank that is gone; "
                                "sensitivity and quant --analyze under a launcher need one evaluation to take "
                                "under half of it")
                              .at_least(0.1)},
            {"bucket_mb", Float(25.0, "gradient all-reduce bucket size; 0 = one all-reduce per tensor").at_least(0)}},
           "data-parallel training, set up from torchrun's RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT")},
      {"freeze_bn", Bool(false, "BatchNorm uses its running statistics in training and does not update them")},
      {"sync_bn", Bool(false, "multi-process: BatchNorm statistics over all ranks' batches (SyncBN)")},
      {"threads", Int(0,
                      "CPU threads for torch; 0 = OMP_NUM_THREADS if set, else all cores (more than 256 only "
                      "oversubscribes any CPU this runs on)")
                      .within(0, 256)},
      {"TrainReader", reader(true)},
      {"EvalReader", reader(false)},
  });
}

Field& mutable_root() {
  static Field root = build_root();
  return root;
}

}  // namespace

const Field& root_schema() { return mutable_root(); }

void add_section(const std::string& name, Field section) {
  Field& root = mutable_root();
  if (root.child(name)) throw std::logic_error("config schema: section '" + name + "' is defined twice");
  root.children.emplace_back(name, std::move(section));
}

}  // namespace compress::config
