// The schema of a config file. Names follow PaddleDetection's configs where it
// has one (architecture, TrainReader, LearningRate, OptimizerBuilder, ...), so a
// reference recipe reads the same here. Later features add their sections here.
#include "train/config/schema.h"

namespace compress::config {
namespace {

// SSD-style augmentations follow the reference's operator names and defaults.
std::vector<std::pair<std::string, Field>> sample_transform_variants() {
  return {
      {"DistortImage",
       Section({{"brightness_lower", Float(0.5)}, {"brightness_upper", Float(1.5)},
                {"brightness_prob", Float(0.5)}, {"contrast_lower", Float(0.5)},
                {"contrast_upper", Float(1.5)}, {"contrast_prob", Float(0.5)},
                {"saturation_lower", Float(0.5)}, {"saturation_upper", Float(1.5)},
                {"saturation_prob", Float(0.5)}, {"hue_lower", Float(-18, "degrees")},
                {"hue_upper", Float(18, "degrees")}, {"hue_prob", Float(0.5)}},
               "photometric distortion on RGB uint8")},
      {"ExpandImage",
       Section({{"max_ratio", Float(4.0)}, {"prob", Float(0.5)},
                {"mean", FloatList({123.675, 116.28, 103.53}, "fill colour, RGB 0..255")}},
               "place the image on a larger canvas (zoom out)")},
      {"CropImage",
       Section({{"batch_sampler",
                 FloatListList({{1, 1, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0},
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
      {"RandomFlipImage", Section({{"prob", Float(0.5)}})},
      {"ResizeImage",
       Section({{"target_size", Int(320)},
                {"interp", Str("linear", {"nearest", "linear", "cubic", "area"})}})},
      {"NormalizeImage",
       Section({{"mean", FloatList({0.485, 0.456, 0.406})},
                {"std", FloatList({0.229, 0.224, 0.225})},
                {"is_scale", Bool(true, "divide by 255 first")}})},
  };
}

std::vector<std::pair<std::string, Field>> batch_transform_variants() {
  return {
      {"RandomShape",
       Section({{"sizes", IntList({320, 352, 384, 416, 448, 480, 512, 544, 576, 608})},
                {"random_inter", Bool(false, "random interpolation per batch")}},
               "YOLO multi-scale: one random square size per batch")},
  };
}

Field reader(bool train) {
  return Section({
      {"dataset",
       TypedMap({{"COCODataSet",
                  Section({{"dataset_dir", Str("", {}, "prefix for image_dir and anno_path")},
                           {"image_dir", Str("")},
                           {"anno_path", Str("")},
                           {"skip_empty", Bool(train, "drop images without (non-crowd) boxes")},
                           {"strict", Bool(false, "unreadable images are errors, not skipped")}})}},
                "COCODataSet")},
      {"sample_transforms",
       TypedList(sample_transform_variants(),
                 train ? "[{type: DistortImage}, {type: ExpandImage}, {type: CropImage}, "
                         "{type: ResizeImage}, {type: RandomFlipImage}, {type: NormalizeImage}]"
                       : "[{type: ResizeImage}, {type: NormalizeImage}]")},
      {"batch_transforms", TypedList(batch_transform_variants(), "[]")},
      {"batch_size", Int(train ? 8 : 1)},
      {"shuffle", Bool(train)},
      {"drop_last", Bool(train)},
      {"worker_num", Int(2, "loader threads")},
      {"bufsize", Int(4, "batches prefetched per worker")},
  });
}

Field build_root() {
  return Section({
      {"architecture", Str("SSD", {"SSD", "YOLOv3"}, "detector family")},
      {"num_classes", Int(80, "object classes, background excluded")},
      {"use_gpu", Bool(false)},
      {"max_iters", Int(1000)},
      {"snapshot_iter", Int(500)},
      {"log_iter", Int(20)},
      {"save_dir", Str("output")},
      {"weights", Str("", {}, "checkpoint for eval/infer/export")},
      {"pretrain_weights", Str("", {}, "checkpoint to start training from")},
      {"metric", Str("COCO", {"COCO"})},
      {"seed", Int(0)},
      {"LearningRate",
       Section({{"base_lr", Float(0.01)},
                {"schedulers",
                 TypedList({{"CosineDecay", Section({{"max_iters", Int(0, "0 = max_iters")}})},
                            {"PiecewiseDecay",
                             Section({{"gamma", Float(0.1)}, {"milestones", IntList({})}})},
                            {"LinearWarmup",
                             Section({{"start_factor", Float(1.0 / 3)}, {"steps", Int(0)}})}},
                           "[{type: CosineDecay}]")}})},
      {"OptimizerBuilder",
       Section({{"optimizer",
                 Section({{"type", Str("Momentum", {"Momentum", "Adam"})},
                          {"momentum", Float(0.9)},
                          {"beta1", Float(0.9)},
                          {"beta2", Float(0.999)},
                          {"epsilon", Float(1e-8)}})},
                {"regularizer", Section({{"type", Str("L2", {"L2", "none"})}, {"factor", Float(5e-4)}})},
                {"clip_grad_norm", Float(0.0, "0 = no clipping")}})},
      {"SSD",
       Section({{"backbone", Str("MobileNetV3", {"MobileNetV3"})},
                {"multi_box_head", Str("SSDLiteMultiBoxHead", {"SSDLiteMultiBoxHead"})},
                {"output_decoder", Section({{"background_label", Int(0, "always 0: class 0 is background")},
                                            {"keep_top_k", Int(200)},
                                            {"nms_threshold", Float(0.45)},
                                            {"nms_top_k", Int(400)},
                                            {"score_threshold", Float(0.01)}})},
                {"loss", Section({{"overlap_threshold", Float(0.5)},
                                  {"neg_pos_ratio", Float(3.0)},
                                  {"neg_overlap", Float(0.5)}})}})},
      {"MobileNetV3",
       Section({{"model_name", Str("large", {"large", "small"})},
                {"scale", Float(1.0)},
                {"conv_decay", Float(4e-5, "L2 on conv weights of backbone and head; 0 = the global factor")},
                {"lr_mult_list", FloatList({1.0, 1.0, 1.0, 1.0, 1.0}, "LR multipliers, one per 3 backbone units")},
                {"extra_block_filters", IntListList({{256, 512}, {128, 256}, {128, 256}, {64, 128}})},
                {"feature_maps", IntList({1, 2, 3, 4, 6},
                                         "YOLOv3 taps the last three: 3 = stride 8, 4 = stride 16, 6 = conv_last "
                                         "(SSDLite's taps are fixed: the s16->s32 expand, conv_last, extra blocks)")},
                {"norm_type", Str("bn", {"bn"}, "batch norm (sync_bn comes with distributed training)")}})},
      {"ResNet",
       Section({{"depth", Int(34, "18 or 34 (BasicBlocks)")},
                {"zero_init_residual", Bool(false, "start each block's last BN scale at 0 (from-scratch training)")},
                {"feature_maps", IntList({3, 4, 5}, "stages tapped; YOLOv3 uses res3, res4, res5")},
                {"norm_type", Str("bn", {"bn"}, "batch norm (sync_bn comes with distributed training)")}})},
      {"YOLOv3",
       Section({{"backbone", Str("MobileNetV3", {"MobileNetV3", "ResNet"})},
                {"yolo_head", Str("YOLOv3Head", {"YOLOv3Head"})}})},
      {"YOLOv3Head",
       Section({{"anchors", FloatListList({{10, 13}, {16, 30}, {33, 23}, {30, 61}, {62, 45}, {59, 119},
                                           {116, 90}, {156, 198}, {373, 326}},
                                          "(w, h) in input pixels")},
                {"anchor_masks", IntListList({{6, 7, 8}, {3, 4, 5}, {0, 1, 2}}, "per scale, stride 32 first")},
                {"norm_decay", Float(0.0, "L2 on BN scale/bias (always 0 here: BN is never decayed)")},
                {"obj_prior", Float(0.0, "initial objectness probability of every cell, set through the output "
                                         "bias -log((1-p)/p); 0 = the reference's default init")},
                {"nms", Section({{"background_label", Int(-1, "always -1: YOLO has no background class")},
                                 {"keep_top_k", Int(100)},
                                 {"nms_threshold", Float(0.45)},
                                 {"nms_top_k", Int(1000)},
                                 {"normalized", Bool(false, "always false: boxes in pixels")},
                                 {"score_threshold", Float(0.01)}})}})},
      {"YOLOv3Loss",
       Section({{"ignore_thresh", Float(0.7, "objectness of predictions overlapping a GT by more is not penalised")},
                {"label_smooth", Bool(true, "class targets 1 - 1/C and 1/C")}})},
      {"SSDLiteMultiBoxHead",
       Section({{"aspect_ratios", FloatListList({{2}, {2, 3}, {2, 3}, {2, 3}, {2, 3}, {2, 3}})},
                {"base_size", Float(320)},
                {"steps", FloatList({16, 32, 64, 107, 160, 320}, "pixels; [] = input size / map size")},
                {"flip", Bool(true)},
                {"min_ratio", Float(20)},
                {"max_ratio", Float(95)},
                {"offset", Float(0.5)},
                {"clip", Bool(true)}})},
      {"quant",
       Section({{"weight_quantize_type", Str("channel_wise_abs_max", {"channel_wise_abs_max", "abs_max"})},
                {"activation_quantize_type",
                 Str("moving_average_abs_max", {"moving_average_abs_max", "abs_max", "range_abs_max"})},
                {"weight_bits", Int(8)},
                {"activation_bits", Int(8)},
                {"moving_rate", Float(0.9, "moving_average_abs_max decay")},
                {"window_size", Int(10000, "range_abs_max window, in steps")},
                {"not_quant_pattern", StrList({}, "conv paths containing any of these stay float")},
                {"freeze_bn_iter", Int(-1, "QAT steps before BN statistics freeze; -1 = never")},
                {"quantize_outputs", Bool(true, "observe conv output scales and run int8 outputs in eval and export "
                                                "(ONNX Runtime then fuses int8 convs); false = inputs only")},
                {"max_iters", Int(0, "QAT steps; 0 = the recipe's max_iters")},
                {"base_lr", Float(0.0, "QAT learning rate; 0 = the recipe's")},
                {"calib_batches", Int(10, "PTQ (--post): batches that calibrate activation scales")}},
               "quantization-aware training and post-training quantization (`compress quant`)")},
      {"prune",
       Section({{"pruned_params", StrList({}, "conv weights to prune when --pruned_params is not given")},
                {"pruned_ratios", FloatList({}, "their ratios (one, or one per name)")},
                {"criterion", Str("l1_norm", {"l1_norm", "geometry_median"})},
                {"max_iters", Int(0, "fine-tuning steps after pruning; 0 = the recipe's max_iters")},
                {"base_lr", Float(0.0, "fine-tuning learning rate; 0 = the recipe's")},
                {"input_size", Int(0, "square input for the dependency trace and FLOPs; 0 = EvalReader's size")}},
               "channel pruning (`compress prune`, `compress sensitivity`)")},
      {"distill",
       Section({{"type", Str("yolov3", {"yolov3", "l2"}, "the reference's YOLOv3 loss, or L2 on the head maps")},
                {"weight", Float(0.0, "loss weight; 0 = 1000 for yolov3, 100 for l2 (the reference's)")},
                {"max_iters", Int(0, "distillation steps; 0 = the recipe's max_iters")},
                {"base_lr", Float(0.0, "learning rate; 0 = the recipe's")}},
               "knowledge distillation (`compress distill`)")},
      {"distributed",
       Section({{"backend", Str("gloo", {"gloo", "nccl"}, "c10d backend when WORLD_SIZE > 1 (nccl needs a CUDA build)")},
                {"timeout_s", Float(60.0, "a collective waiting longer than this fails, naming the rank that is gone")},
                {"bucket_mb", Float(25.0, "gradient all-reduce bucket size")}},
               "data-parallel training, set up from torchrun's RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT")},
      {"freeze_bn", Bool(false, "BatchNorm uses its running statistics in training and does not update them")},
      {"sync_bn", Bool(false, "multi-process: BatchNorm statistics over all ranks' batches (SyncBN)")},
      {"threads", Int(0, "CPU threads for torch; 0 = OMP_NUM_THREADS if set, else all cores")},
      {"TrainReader", reader(true)},
      {"EvalReader", reader(false)},
  });
}

}  // namespace

const Field& root_schema() {
  static const Field root = build_root();
  return root;
}

}  // namespace compress::config
