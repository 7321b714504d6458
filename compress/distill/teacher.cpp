#include "compress/distill/teacher.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "compress/model_io.h"
#include "train/config/config.h"
#include "train/data/reader.h"
#include "train/engine/distributed.h"
#include "train/engine/evaluate.h"
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

}  // namespace compress::distill
