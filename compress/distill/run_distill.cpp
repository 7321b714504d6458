#include "compress/distill/run_distill.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "compress/distill/distill_loss.h"
#include "compress/model_io.h"
#include "train/config/config.h"
#include "train/config/override_value.h"
#include "train/data/loader.h"
#include "train/data/reader.h"
#include "train/engine/checkpoint.h"
#include "train/engine/distributed.h"
#include "train/engine/evaluate.h"
#include "train/engine/trainer.h"
#include "train/util/error.h"

namespace compress::distill {
namespace fs = std::filesystem;

namespace {

std::string flow(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

// Equal as values: numbers compare as numbers ("2" == "2.000000").
bool same_value(const YAML::Node& a, const YAML::Node& b) {
  if (a.IsSequence() && b.IsSequence()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same_value(a[i], b[i])) return false;
    return true;
  }
  if (a.IsScalar() && b.IsScalar()) {
    char *ea = nullptr, *eb = nullptr;
    const double x = std::strtod(a.Scalar().c_str(), &ea), y = std::strtod(b.Scalar().c_str(), &eb);
    if (*ea == '\0' && *eb == '\0' && !a.Scalar().empty() && !b.Scalar().empty())
      return std::fabs(x - y) <= 1e-6 * std::max(1.0, std::fabs(x));
    return a.Scalar() == b.Scalar();
  }
  return flow(a) == flow(b);
}

}  // namespace

DistillBaseline evaluate_baseline(const Config& cfg, DetectorImpl& teacher, DetectorImpl* student, DistContext* dist) {
  DistillBaseline b;
  const EvalRun t = evaluate_on_reader(cfg, teacher, dist, /*progress=*/false);
  const EvalRun s = student ? evaluate_on_reader(cfg, *student, dist, /*progress=*/false) : EvalRun{};
  if (dist && !dist->is_main()) return b;  // the scores are rank 0's
  b.teacher_ap = t.result.stats.ap();
  if (student) b.student_ap = s.result.stats.ap();
  const int64_t images = t.images;
  if (student) {
    spdlog::info(
        "teacher AP {:.4f}, student AP {:.4f} as loaded, before pruning and distillation (EvalReader, {} images)",
        b.teacher_ap, b.student_ap, images);
    if (b.teacher_ap <= b.student_ap)
      spdlog::warn(
          "the teacher (AP {:.4f}) is no better than the student it teaches (AP {:.4f}): distillation pulls "
          "the student toward a weaker model; train the teacher longer or pick a stronger one",
          b.teacher_ap, b.student_ap);
  } else {
    spdlog::info("teacher AP {:.4f} (EvalReader, {} images)", b.teacher_ap, images);
  }
  return b;
}

void check_compatible(const Config& s, const Config& t) {
  const std::string ts = t.source().empty() ? "the teacher config" : "teacher config '" + t.source() + "'";
  auto same = [&](const std::string& key) {
    const std::string a = flow(s.at(key)), b = flow(t.at(key));
    if (!same_value(s.at(key), t.at(key)))
      fail("student and teacher differ in ", key, ": ", a, " (student) vs ", b, " (", ts, ")");
  };
  same("architecture");
  if (s.get<std::string>("architecture") != "YOLOv3")
    fail("distill: the recipe distills YOLOv3 detectors; the student is ", s.get<std::string>("architecture"));
  same("num_classes");
  same("YOLOv3Head.anchors");
  same("YOLOv3Head.anchor_masks");
  const int64_t a = eval_input_size(s, 0, "distill (student)"), b = eval_input_size(t, 0, "distill (teacher)");
  if (a != b)
    fail("student and teacher differ in input size (EvalReader ResizeImage): ", a, " (student) vs ", b, " (", ts, ")");
}

std::shared_ptr<DetectorImpl> load_teacher(const Config& teacher_cfg, const std::string& weights) {
  if (weights.empty()) fail("distill: --teacher_weights is required");
  if (!fs::exists(weights)) fail("teacher weights '", weights, "' do not exist");
  auto t = load_detector(teacher_cfg, weights);
  t->eval();
  for (auto& p : t->parameters()) p.requires_grad_(false);
  return t;
}

std::function<void(const std::vector<at::Tensor>&, const Batch&, LossTerms&)> make_distill_loss(
    std::shared_ptr<DetectorImpl> teacher, const std::string& type, double weight, int64_t anchors_per_scale) {
  if (type != "yolov3" && type != "l2") fail("distill.type '", type, "' is not one of: yolov3, l2");
  return [=](const std::vector<torch::Tensor>& outputs, const Batch& batch, LossTerms& terms) {
    TORCH_CHECK(!teacher->is_training(), "distill: the teacher left eval mode");
    std::vector<torch::Tensor> t;
    {
      torch::NoGradGuard no_grad;
      const auto dev = outputs[0].device();
      if (teacher->parameters()[0].device() != dev) teacher->to(dev);  // beside the student (use_gpu)
      t = teacher->forward(batch.images.to(dev));
    }
    if (type == "yolov3") {
      const DistillTerms d = yolov3_distill_loss(outputs, t, anchors_per_scale);
      const auto box = d.box * weight, cls = d.cls * weight, obj = d.obj * weight;
      // The terms do not fall to 0: soft targets have entropy, and the hard
      // objectness target is not the teacher's own logit. Their floor on this
      // batch is the teacher scored against itself; distill_gap, the three
      // terms' excess over it, is what the student has left to learn from the
      // teacher (0 = it matches the teacher's outputs; below 0 where it is
      // surer than the teacher of the teacher's own objectness). Logged only.
      torch::Tensor gap;
      {
        torch::NoGradGuard no_grad;
        const DistillTerms f = yolov3_distill_loss(t, t, anchors_per_scale);
        gap = ((d.box + d.cls + d.obj).detach() - (f.box + f.cls + f.obj)) * weight;
      }
      terms.terms.push_back({"distill_box", box});
      terms.terms.push_back({"distill_cls", cls});
      terms.terms.push_back({"distill_obj", obj});
      terms.terms.push_back({"distill_gap", gap});
      terms.total = terms.total + box + cls + obj;
    } else {
      const auto l2 = l2_distill_loss(outputs, t) * weight;
      terms.terms.push_back({"distill_l2", l2});
      terms.total = terms.total + l2;
    }
  };
}

DistillRunResult run_distill(Config cfg, DistillRunOptions o) {
  if (const auto n = cfg.get<int64_t>("distill.max_iters"); n > 0)
    apply_override(cfg, "max_iters=" + std::to_string(n));
  if (const auto lr = cfg.get<double>("distill.base_lr"); lr > 0)
    apply_override(cfg, "LearningRate.base_lr=" + override_value(lr));
  if (o.teacher_config.empty()) fail("distill: --teacher_config is required");
  const Config tcfg = load_config(o.teacher_config);
  check_compatible(cfg, tcfg);
  auto teacher = load_teacher(tcfg, o.teacher_weights);
  spdlog::info("teacher: {} from '{}' (frozen, eval mode)", o.teacher_config, o.teacher_weights);

  DistillRunResult res;
  res.run_dir = o.run_dir.empty() ? default_run_dir(cfg) : o.run_dir;
  TrainOptions to;
  to.eval = o.eval;
  to.run_dir = res.run_dir;
  Detector student;
  if (!o.resume.empty()) {
    if (!fs::exists(o.resume)) fail("checkpoint '", o.resume, "' does not exist");
    const TrainState s = read_checkpoint_state(o.resume);
    student = build_detector(cfg);
    apply_transforms(student, s.transforms, o.resume);
    to.resume = o.resume;
    to.transforms = s.transforms;
  } else {
    const std::string pretrain = cfg.get<std::string>("pretrain_weights");
    if (pretrain.empty()) {
      spdlog::warn("no pretrain_weights: distilling into a randomly initialised student");
      student = build_detector(cfg);
    } else {
      student = prune::load_unquantized(cfg, pretrain);  // float or already pruned
      to.transforms = read_checkpoint_state(pretrain).transforms;
      spdlog::info("student from '{}'", pretrain);
    }
    // With --eval, how good the guide is against the student it teaches, before
    // pruning changes the student. The process group is the one the Trainer
    // then uses (dist_init makes it once).
    if (o.eval) {
      const auto dist = dist_init(cfg);
      res.baseline = evaluate_baseline(cfg, *teacher, pretrain.empty() ? nullptr : student.get(), dist.get());
    }
    prune::fill_from_config(o.prune, cfg);
    if (!o.prune.params.empty() || !o.prune.sensitivities.empty()) {
      prune::prune_and_report(cfg, *student, o.prune, res.run_dir);
      to.transforms = prune::prune_transforms(cfg, *student, o.prune);
    }
    apply_override(cfg, "pretrain_weights=''");  // already loaded
  }

  const std::string type = cfg.get<std::string>("distill.type");
  double weight = cfg.get<double>("distill.weight");
  if (weight <= 0) weight = type == "yolov3" ? 1000.0 : 100.0;
  const auto masks = cfg.at("YOLOv3Head.anchor_masks");
  const int64_t anchors_per_scale = static_cast<int64_t>(masks[0].size());
  spdlog::info("distillation: {} loss, weight {}", type, weight);

  Trainer trainer(cfg, student, to);
  trainer.extra_loss = make_distill_loss(teacher, type, weight, anchors_per_scale);
  const TrainState st = trainer.train();
  res.ap = st.best_ap;
  return res;
}

}  // namespace compress::distill
