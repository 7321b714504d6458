// Layer-by-layer verification of an int8 (QDQ) export, part of
// `compress export --verify`: every activation QuantizeLinear -> DequantizeLinear
// pair of the file is made a graph output of a verification copy, ONNX Runtime
// runs that copy (graph optimizations disabled, then `all` as deployed), and
// the LibTorch simulation runs on the same images with each of its rounded
// tensors compared with the file's and then replaced by it (teacher forcing),
// so that every layer is judged on identical inputs and one wrong layer cannot
// hide behind, or be blamed for, another's flips.
//
// A code is identical where ORT's value is LibTorch's (the same code on the
// same grid, within 1e-3 steps), or where it is one step off and LibTorch's value before rounding lay
// within 1e-3 steps of the rounding boundary (a tie that float summation order
// breaks either way; counted and printed). Every pair must agree on >= min_same of its elements at both levels;
// a pair the model rounds but the file lacks, or the reverse, fails too.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

#include "train/models/detector.h"

namespace compress {

struct LayerAgreement {
  std::string conv, kind;  // the conv's path and "input" / "output"
  int64_t site = 0;
  int64_t elements = 0;            // per level
  double same[2] = {1, 1};         // share of identical codes: optimizations disabled, all
  double worst_steps[2] = {0, 0};  // max |ORT - LibTorch| in steps
  int64_t ties[2] = {0, 0};        // one-step flips of values within 1e-3 steps of a boundary (counted as identical)
};

struct LayerVerify {
  std::string runtime = "ort";         // "ort": two levels (disabled, all); "onednn": one, in both columns
  std::vector<LayerAgreement> rows;    // the file's pairs, in graph order
  std::vector<std::string> unmatched;  // pairs present on one side only
  double min_same = 0.9999;
  bool ok = true;
  std::string first_bad;                      // "<conv> <kind>[site]: ..." for the first failing pair, or ""
  std::string table(size_t worst = 8) const;  // Markdown: the summary and the `worst` rows
};

// images: batches for the file's input (batch 1 for Cascade R-CNN).
// runtime: "ort" (ONNX Runtime, optimizations disabled and all) or "onednn"
// (compress/runtime, the file's own plan, fused convs included).
LayerVerify verify_layers(DetectorImpl& model, const std::string& onnx_path, const std::vector<torch::Tensor>& images,
                          double min_same = 0.9999, const std::string& runtime = "ort");

}  // namespace compress
