// The ONNX file as the runtime sees it: nodes in graph order, constant
// tensors, and the graph's inputs and outputs. Only model.cpp reads protobuf,
// so the rest of the runtime builds without ONNX's headers.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace compress::runtime {

enum class DType { f32, u8, s8, s32, s64, b8 };  // b8: ONNX bool, one byte 0 / 1
const char* dtype_name(DType t);
size_t dtype_size(DType t);

// A constant (initializer, or a Constant node's value), bytes in row-major order.
struct Constant {
  DType type = DType::f32;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;
  int64_t numel() const;
  template <class T>
  const T* data() const {
    return reinterpret_cast<const T*>(bytes.data());
  }
};

struct Attribute {
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
};

struct Node {
  std::string name, op;
  std::vector<std::string> inputs, outputs;  // "" for an omitted optional input
  std::map<std::string, Attribute> attrs;
  bool has(const std::string& a) const { return attrs.count(a) > 0; }
  int64_t i(const std::string& a, int64_t dflt) const;
  float f(const std::string& a, float dflt) const;
  std::vector<int64_t> ints(const std::string& a, std::vector<int64_t> dflt = {}) const;
  std::string s(const std::string& a, const std::string& dflt) const;
};

struct Model {
  std::string path;
  int64_t opset = 0;
  std::vector<Node> nodes;  // topologically sorted, as ONNX requires
  std::map<std::string, Constant> constants;
  std::vector<std::string> inputs, outputs;      // graph inputs that are not initializers; outputs in order
  std::vector<std::vector<int64_t>> input_dims;  // -1 where symbolic
};

// Throws std::runtime_error naming the file when it is missing, truncated or
// holds a tensor type the runtime does not read.
Model load_model(const std::string& path);

}  // namespace compress::runtime
