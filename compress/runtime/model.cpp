#include "compress/runtime/model.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace compress::runtime {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "float32";
    case DType::u8:
      return "uint8";
    case DType::s8:
      return "int8";
    case DType::s32:
      return "int32";
    case DType::s64:
      return "int64";
    case DType::b8:
      return "bool";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
    case DType::s32:
      return 4;
    case DType::u8:
    case DType::s8:
    case DType::b8:
      return 1;
    case DType::s64:
      return 8;
  }
  return 0;
}

int64_t Constant::numel() const {
  int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

int64_t Node::i(const std::string& a, int64_t dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.i;
}
float Node::f(const std::string& a, float dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.f;
}
std::vector<int64_t> Node::ints(const std::string& a, std::vector<int64_t> dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.ints;
}
std::string Node::s(const std::string& a, const std::string& dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.s;
}

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw std::runtime_error("runtime: '" + path + "': " + what);
}

Constant read_tensor(const onnx::TensorProto& t, const std::string& path) {
  Constant c;
  c.dims.assign(t.dims().begin(), t.dims().end());
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      c.type = DType::f32;
      break;
    case onnx::TensorProto::UINT8:
      c.type = DType::u8;
      break;
    case onnx::TensorProto::INT8:
      c.type = DType::s8;
      break;
    case onnx::TensorProto::INT32:
      c.type = DType::s32;
      break;
    case onnx::TensorProto::INT64:
      c.type = DType::s64;
      break;
    case onnx::TensorProto::BOOL:
      c.type = DType::b8;
      break;
    default:
      bad(path, "tensor '" + t.name() + "' has ONNX data type " + std::to_string(t.data_type()) +
                    ", which the runtime does not read (float32, uint8, int8, int32, int64, bool)");
  }
  const size_t bytes = static_cast<size_t>(c.numel()) * dtype_size(c.type);
  c.bytes.resize(bytes);
  if (t.has_raw_data()) {
    if (t.raw_data().size() != bytes)
      bad(path, "tensor '" + t.name() + "' holds " + std::to_string(t.raw_data().size()) + " bytes for " +
                    std::to_string(bytes) + " expected");
    std::memcpy(c.bytes.data(), t.raw_data().data(), bytes);
    return c;
  }
  // Typed fields: float_data, int32_data (also int8 / uint8), int64_data.
  auto check = [&](int n) {
    if (static_cast<int64_t>(n) != c.numel())
      bad(path, "tensor '" + t.name() + "' holds " + std::to_string(n) + " values for " + std::to_string(c.numel()) +
                    " expected");
  };
  switch (c.type) {
    case DType::f32:
      check(t.float_data_size());
      std::memcpy(c.bytes.data(), t.float_data().data(), bytes);
      break;
    case DType::s64:
      check(t.int64_data_size());
      std::memcpy(c.bytes.data(), t.int64_data().data(), bytes);
      break;
    case DType::s32:
      check(t.int32_data_size());
      std::memcpy(c.bytes.data(), t.int32_data().data(), bytes);
      break;
    case DType::u8:
    case DType::s8:
    case DType::b8:
      check(t.int32_data_size());
      for (int k = 0; k < t.int32_data_size(); ++k) c.bytes[k] = static_cast<uint8_t>(t.int32_data(k));
      break;
  }
  return c;
}

}  // namespace

Model load_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad(path, "cannot open the file");
  onnx::ModelProto m;
  if (!m.ParseFromIstream(&in)) bad(path, "not an ONNX model (the protobuf does not parse; truncated?)");
  if (!m.has_graph() || m.graph().node_size() == 0) bad(path, "the ONNX model has no graph nodes");
  Model out;
  out.path = path;
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") out.opset = o.version();
  const auto& g = m.graph();
  for (const auto& t : g.initializer()) out.constants[t.name()] = read_tensor(t, path);
  for (const auto& v : g.input()) {
    if (out.constants.count(v.name())) continue;
    out.inputs.push_back(v.name());
    std::vector<int64_t> dims;
    for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    out.input_dims.push_back(dims);
  }
  for (const auto& v : g.output()) out.outputs.push_back(v.name());
  for (const auto& n : g.node()) {
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      bad(path, "node '" + n.name() + "' is in domain '" + n.domain() + "', which the runtime does not run");
    if (n.op_type() == "Constant") {  // folded into the constants
      for (const auto& a : n.attribute())
        if (a.name() == "value") out.constants[n.output(0)] = read_tensor(a.t(), path);
      if (!out.constants.count(n.output(0)))
        bad(path, "Constant node '" + n.name() + "' has no tensor 'value' attribute");
      continue;
    }
    Node node;
    node.name = n.name().empty() ? n.op_type() + "_" + std::to_string(out.nodes.size()) : n.name();
    node.op = n.op_type();
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    for (const auto& a : n.attribute()) {
      Attribute v;
      v.i = a.i();
      v.f = a.f();
      v.s = a.s();
      v.ints.assign(a.ints().begin(), a.ints().end());
      v.floats.assign(a.floats().begin(), a.floats().end());
      node.attrs[a.name()] = std::move(v);
    }
    out.nodes.push_back(std::move(node));
  }
  return out;
}

}  // namespace compress::runtime
