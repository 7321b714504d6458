// How each building block of the detectors lowers to ONNX, once, on top of the
// generic ops of Emitter: SE, the MobileNetV3 residual unit and backbone,
// ResNet's basic block and backbone, SSDLite's extra block and separable head,
// the YOLOv3 detection block. Tensor names follow module paths, so a node
// reads like the parameter it holds (backbone.blocks.4.res_conv1.conv).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace compress {
struct SEBlockImpl;
struct ResidualUnitImpl;
struct MobileNetV3Impl;
struct ExtraBlockImpl;
struct SeparableHeadImpl;
struct BasicBlockImpl;
struct YoloDetectionBlockImpl;
struct ResNetImpl;
}  // namespace compress

namespace compress::onnx_export {
class Emitter;

// x * hard-sigmoid(conv2(relu(conv1(avgpool(x))))).
std::string se(Emitter& e, const std::string& x, SEBlockImpl& s, const std::string& path);

// Returns {expand output, unit output}.
std::pair<std::string, std::string> residual_unit(Emitter& e, const std::string& x, ResidualUnitImpl& u,
                                                  const std::string& path);

// {tap16 expand, conv_last} (SSD) or {s8, s16, conv_last} (YOLOv3).
std::vector<std::string> mobilenet(Emitter& e, const std::string& x, MobileNetV3Impl& m, bool yolo_taps);

// {res3, res4, res5} outputs (strides 8, 16, 32).
std::vector<std::string> resnet(Emitter& e, const std::string& x, ResNetImpl& r);

std::string basic_block(Emitter& e, const std::string& x, BasicBlockImpl& b, const std::string& path);
std::string extra_block(Emitter& e, const std::string& x, ExtraBlockImpl& b, const std::string& path);
std::string separable_head(Emitter& e, const std::string& x, SeparableHeadImpl& h, const std::string& path);

// {route (N, channel, H, W), tip (N, 2 channel, H, W)}
std::pair<std::string, std::string> yolo_block(Emitter& e, const std::string& x, YoloDetectionBlockImpl& blk,
                                               const std::string& path);

}  // namespace compress::onnx_export
