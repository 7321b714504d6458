// A small ONNX graph writer over Debian's libonnx protobuf classes. Deliberately
// free of torch and of onnx headers, so that only onnx_graph.cpp pays for them
// (it builds in its own library, see CMakeLists.txt).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace compress::onnx_export {

struct Attr {
  std::string name;
  std::variant<int64_t, float, std::vector<int64_t>, std::vector<float>, std::string> value;
};

class OnnxGraph {
 public:
  OnnxGraph(const std::string& graph_name, int64_t opset);
  ~OnnxGraph();
  OnnxGraph(const OnnxGraph&) = delete;
  OnnxGraph& operator=(const OnnxGraph&) = delete;

  // A float32 graph input; a dim of -1 is symbolic (named `dim_names[i]`).
  void add_input(const std::string& name, const std::vector<int64_t>& dims, const std::vector<std::string>& dim_names);
  // A float32 graph output of the given rank; every dim symbolic (dim 0 "N" if batched).
  void add_output(const std::string& name, int64_t rank, bool batched);
  // Initializers (constant tensors). Names are made unique; the final name is returned.
  std::string add_float(const std::string& name, const std::vector<int64_t>& dims, const float* data);
  std::string add_int8(const std::string& name, const std::vector<int64_t>& dims, const int8_t* data);
  std::string add_int32(const std::string& name, const std::vector<int64_t>& dims, const int32_t* data);
  std::string add_uint8(const std::string& name, const std::vector<int64_t>& dims, const uint8_t* data);
  std::string add_int64(const std::string& name, const std::vector<int64_t>& dims, const int64_t* data);
  // One node; returns its output names (unique, derived from `name`).
  std::vector<std::string> add_node(const std::string& op, const std::vector<std::string>& inputs,
                                    const std::string& name, const std::vector<Attr>& attrs = {}, int n_outputs = 1);
  std::string add_node1(const std::string& op, const std::vector<std::string>& inputs, const std::string& name,
                        const std::vector<Attr>& attrs = {}) {
    return add_node(op, inputs, name, attrs, 1)[0];
  }
  void set_doc(const std::string& doc);
  // Checks the model with onnx::checker, then writes it atomically (temp + rename).
  void save(const std::string& path);
  int64_t num_nodes() const;

 private:
  std::string unique(const std::string& base);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The float32 initializers of an ONNX file, by name (for tests and reports).
std::map<std::string, std::vector<float>> read_float_initializers(const std::string& path);
// The first graph input's dims (-1 where symbolic).
std::vector<int64_t> read_input_dims(const std::string& path);
// Op types of the graph's nodes, in order.
std::vector<std::string> read_op_types(const std::string& path);

// A node as the file holds it (tests: QDQ types and attributes).
struct NodeInfo {
  std::string op, name;
  std::vector<std::string> inputs, outputs;
  std::map<std::string, int64_t> ints;  // integer attributes
};
std::vector<NodeInfo> read_nodes(const std::string& path);
// Initializer name -> ONNX element type (1 float, 2 uint8, 3 int8, 6 int32, 7 int64).
std::map<std::string, int> read_initializer_types(const std::string& path);

// An activation QuantizeLinear -> DequantizeLinear pair of a file that
// `compress export` wrote: the DQ output tensor, the conv it belongs to, whether
// it is that conv's "input" or "output", and its call site (the n-th pair of
// that conv and kind in graph order: Cascade R-CNN's RPN head per FPN level).
struct QdqPoint {
  std::string tensor, conv, kind;
  int64_t site = 0;
};
// Copies `path` to `copy_path` with every activation pair's DQ output added as
// a graph output (float, shape left to the runtime): the verification copy.
// The file's own nodes and initializers are kept as they are.
std::vector<QdqPoint> expose_activation_qdq(const std::string& path, const std::string& copy_path);

// Multiplies one float initializer by `factor` in place (tests: a corrupted scale).
void scale_float_initializer(const std::string& path, const std::string& name, float factor);

}  // namespace compress::onnx_export
