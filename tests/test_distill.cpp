// Distillation: each loss term by hand and against a naive scalar reference,
// the teacher frozen (no gradient, eval mode, not in the student), and the
// teacher/student compatibility check.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "compress/distill/distill_loss.h"
#include "compress/distill/run_distill.h"
#include "tests/test_util.h"
#include "train/config/config.h"
#include "train/data/loader.h"
#include "train/engine/checkpoint.h"
#include "train/models/detector.h"
#include "train/util/error.h"

using namespace compress;
using namespace compress::distill;

namespace {

constexpr double kTol = 1e-6;

double sig(double x) { return 1 / (1 + std::exp(-x)); }
double sce(double x, double p) { return std::max(x, 0.0) - x * p + std::log1p(std::exp(-std::fabs(x))); }

// The loss written the slow way, one element at a time. Maps (N, A*(5+C), H, W).
std::array<double, 3> naive(const std::vector<torch::Tensor>& s, const std::vector<torch::Tensor>& t, int64_t A) {
  std::array<double, 3> L{0, 0, 0};
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t N = s[i].size(0), K = s[i].size(1) / A, H = s[i].size(2), W = s[i].size(3), C = K - 5;
    auto S = [&](int64_t n, int64_t a, int64_t k, int64_t h, int64_t w) {
      return s[i][n][a * K + k][h][w].item<double>();
    };
    auto T = [&](int64_t n, int64_t a, int64_t k, int64_t h, int64_t w) {
      return t[i][n][a * K + k][h][w].item<double>();
    };
    double box = 0, cls = 0, obj = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t a = 0; a < A; ++a)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) {
            const double to = sig(T(n, a, 4, h, w));
            box +=
                to * (sce(S(n, a, 0, h, w), sig(T(n, a, 0, h, w))) + sce(S(n, a, 1, h, w), sig(T(n, a, 1, h, w))) +
                      std::fabs(S(n, a, 2, h, w) - T(n, a, 2, h, w)) + std::fabs(S(n, a, 3, h, w) - T(n, a, 3, h, w)));
            for (int64_t c = 0; c < C; ++c) cls += sce(S(n, a, 5 + c, h, w), sig(T(n, a, 5 + c, h, w))) * to;
            obj += sce(S(n, a, 4, h, w), T(n, a, 4, h, w) > 0 ? 1.0 : 0.0);
          }
    const double cells = double(N * A * H * W);
    L[0] += box / cells;
    L[1] += cls / (cells * C);
    L[2] += obj / cells;
  }
  return L;
}

Config yolo_cfg(const std::string& backbone, std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"architecture=YOLOv3",         "num_classes=3",   "use_gpu=false",
                                "YOLOv3.backbone=" + backbone, "ResNet.depth=18", "MobileNetV3.model_name=small",
                                "MobileNetV3.scale=0.5"};
  o.insert(o.end(), extra.begin(), extra.end());
  return config_from_string("", o);
}

}  // namespace

TEST(DistillLoss, OneCellByHand) {
  // One scale, one image, one anchor, one class, one cell: [x, y, w, h, obj, cls].
  const auto s = torch::tensor({0.5, -1.0, 0.2, 0.3, 1.0, 2.0}, torch::kDouble).view({1, 6, 1, 1});
  const auto t = torch::tensor({0.0, 1.0, -0.1, 0.5, -2.0, -1.0}, torch::kDouble).view({1, 6, 1, 1});
  const auto d = yolov3_distill_loss({s}, {t}, 1);
  const double to = sig(-2.0);
  EXPECT_NEAR(d.box.item<double>(), to * (sce(0.5, 0.5) + sce(-1.0, sig(1.0)) + 0.3 + 0.2), kTol);
  EXPECT_NEAR(d.cls.item<double>(), sce(2.0, sig(-1.0)) * to, kTol);
  EXPECT_NEAR(d.obj.item<double>(), sce(1.0, 0.0), kTol);  // teacher objectness logit < 0: target 0
  // Identical maps: L1 terms vanish, the SCE terms reach their minimum (the entropy).
  const auto same = yolov3_distill_loss({t}, {t}, 1);
  EXPECT_NEAR(same.box.item<double>(), to * (sce(0.0, 0.5) + sce(1.0, sig(1.0))), kTol);
  EXPECT_NEAR(l2_distill_loss({s}, {t}).item<double>(), (0.25 + 4 + 0.09 + 0.04 + 9 + 9) / 6, kTol);
}

TEST(DistillLoss, ObjectnessTargetHardSoftOrOff) {
  // The same cell: the reference's hard target 1[t_obj > 0] = 0, the soft
  // one sig(t_obj), or no objectness term; box and class terms unchanged.
  const auto s = torch::tensor({0.5, -1.0, 0.2, 0.3, 1.0, 2.0}, torch::kDouble).view({1, 6, 1, 1});
  const auto t = torch::tensor({0.0, 1.0, -0.1, 0.5, -2.0, -1.0}, torch::kDouble).view({1, 6, 1, 1});
  const auto hard = yolov3_distill_loss({s}, {t}, 1, "hard");
  const auto soft = yolov3_distill_loss({s}, {t}, 1, "soft");
  const auto off = yolov3_distill_loss({s}, {t}, 1, "off");
  EXPECT_NEAR(hard.obj.item<double>(), sce(1.0, 0.0), kTol);
  EXPECT_NEAR(soft.obj.item<double>(), sce(1.0, sig(-2.0)), kTol);
  EXPECT_EQ(off.obj.item<double>(), 0.0);
  for (const auto* d : {&soft, &off}) {
    EXPECT_NEAR(d->box.item<double>(), hard.box.item<double>(), kTol);
    EXPECT_NEAR(d->cls.item<double>(), hard.cls.item<double>(), kTol);
  }
  EXPECT_THROW(yolov3_distill_loss({s}, {t}, 1, "hint"), c10::Error);
}

TEST(DistillLoss, MatchesNaiveReferenceOnThreeScales) {
  torch::manual_seed(2);
  std::vector<torch::Tensor> s, t;
  for (int64_t hw : {2, 3, 4}) {
    s.push_back(torch::randn({2, 3 * 7, hw, hw}, torch::kDouble) * 2);
    t.push_back(torch::randn({2, 3 * 7, hw, hw}, torch::kDouble) * 2);
  }
  const auto d = yolov3_distill_loss(s, t, 3);
  const auto n = naive(s, t, 3);
  EXPECT_NEAR(d.box.item<double>(), n[0], kTol);
  EXPECT_NEAR(d.cls.item<double>(), n[1], kTol);
  EXPECT_NEAR(d.obj.item<double>(), n[2], kTol);
  EXPECT_THROW(yolov3_distill_loss({s[0]}, {t[1]}, 3), c10::Error);  // shapes differ
}

TEST(DistillTeacher, FrozenNoGradientAndNotInTheStudent) {
  // Through load_teacher, as `compress distill` loads it: the test does not
  // freeze the teacher itself, so what follows checks what load_teacher does.
  testutil::TempDir dir;
  {
    auto fresh = build_detector(yolo_cfg("ResNet"));
    fresh->train();
    TrainState st;
    st.arch = fresh->arch();
    save_checkpoint(dir.file("teacher.pt"), *fresh, nullptr, st);
  }
  auto teacher = load_teacher(yolo_cfg("ResNet"), dir.file("teacher.pt"));
  EXPECT_FALSE(teacher->is_training());
  for (const auto& p : teacher->named_parameters()) EXPECT_FALSE(p.value().requires_grad()) << p.key();
  EXPECT_THROW(load_teacher(yolo_cfg("ResNet"), dir.file("missing.pt")), Error);
  auto student = build_detector(yolo_cfg("MobileNetV3"));
  student->train();
  const auto hook = make_distill_loss(teacher, "yolov3", 1000.0, 3);
  Batch b;
  b.images = torch::randn({2, 3, 64, 64});
  const auto outs = student->forward(b.images);
  LossTerms terms{torch::zeros({}), {}};
  hook(outs, b, terms);
  ASSERT_EQ(terms.terms.size(), 4u);
  EXPECT_EQ(terms.terms[0].first, "distill_box");
  EXPECT_EQ(terms.terms[3].first, "distill_gap");
  EXPECT_GT(terms.total.item<double>(), 0.0);
  // The gap is the three terms minus the teacher against itself, and not part of the loss.
  {
    torch::NoGradGuard no_grad;
    const auto t_out = teacher->forward(b.images);
    const auto f = yolov3_distill_loss(t_out, t_out, 3);
    const double terms3 = (terms.terms[0].second + terms.terms[1].second + terms.terms[2].second).item<double>();
    EXPECT_NEAR(terms.terms[3].second.item<double>(), terms3 - 1000.0 * (f.box + f.cls + f.obj).item<double>(), 1e-3);
    EXPECT_NEAR(terms.total.item<double>(), terms3, 1e-3);
    EXPECT_FALSE(terms.terms[3].second.requires_grad());
    EXPECT_GT(terms.terms[3].second.item<double>(), 1.0);  // a random student is far from the teacher
    // A student giving the teacher's very outputs has no gap (float32 terms of
    // about 1e3 at weight 1000: 1e-3 is a few ulps).
    LossTerms same{torch::zeros({}), {}};
    hook(t_out, b, same);
    EXPECT_NEAR(same.terms[3].second.item<double>(), 0.0, 1e-3);
  }
  terms.total.backward();
  for (const auto& p : teacher->named_parameters()) EXPECT_FALSE(p.value().grad().defined()) << p.key();
  int with_grad = 0;
  for (const auto& p : student->parameters()) with_grad += p.grad().defined();
  EXPECT_GT(with_grad, 0);
  EXPECT_FALSE(teacher->is_training());
  // The teacher is not registered in the student: no teacher tensor is saved with it.
  for (const auto& p : student->named_parameters()) EXPECT_EQ(p.key().find("res2"), std::string::npos) << p.key();
  EXPECT_EQ(student->children().size(), 4u);  // backbone, yolo_block, yolo_transition, yolo_output
  // A teacher put back in training mode is refused (its BN would update).
  teacher->train();
  LossTerms t2{torch::zeros({}), {}};
  EXPECT_THROW(hook(outs, b, t2), c10::Error);
}

TEST(DistillTeacher, MismatchedAnchorsOrSizeNameBothValues) {
  const auto s = yolo_cfg("MobileNetV3");
  try {
    check_compatible(s, yolo_cfg("ResNet", {"YOLOv3Head.anchors=[[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], "
                                            "[13, 14], [15, 16], [17, 18]]"}));
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("YOLOv3Head.anchors"), std::string::npos) << m;
    EXPECT_NE(m.find("[10, 13]"), std::string::npos) << m;
    EXPECT_NE(m.find("[1, 2]"), std::string::npos) << m;
  }
  try {
    check_compatible(s, yolo_cfg("ResNet", {"EvalReader.sample_transforms=[{type: ResizeImage, target_size: 416}]"}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("416"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_compatible(s, yolo_cfg("ResNet", {"num_classes=4"})), Error);
  EXPECT_NO_THROW(check_compatible(s, yolo_cfg("ResNet")));
}
