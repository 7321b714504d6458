#include "compress/export/onnx_graph.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include "train/util/atomic_file.h"

namespace compress::onnx_export {

struct OnnxGraph::Impl {
  onnx::ModelProto model;
  onnx::GraphProto* graph = nullptr;
  std::set<std::string> names;
};

OnnxGraph::OnnxGraph(const std::string& graph_name, int64_t opset) : impl_(std::make_unique<Impl>()) {
  auto& m = impl_->model;
  m.set_ir_version(7);  // ONNX 1.8+: what opset 13 needs
  m.set_producer_name("compress");
  m.set_producer_version("0.1");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  impl_->graph = m.mutable_graph();
  impl_->graph->set_name(graph_name);
}

OnnxGraph::~OnnxGraph() = default;

std::string OnnxGraph::unique(const std::string& base) {
  std::string n = base;
  for (int k = 1; impl_->names.count(n); ++k) n = base + "_" + std::to_string(k);
  impl_->names.insert(n);
  return n;
}

void OnnxGraph::add_input(const std::string& name, const std::vector<int64_t>& dims,
                          const std::vector<std::string>& dim_names) {
  impl_->names.insert(name);
  auto* in = impl_->graph->add_input();
  in->set_name(name);
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* d = tt->mutable_shape()->add_dim();
    if (dims[i] < 0)
      d->set_dim_param(i < dim_names.size() ? dim_names[i] : "d" + std::to_string(i));
    else
      d->set_dim_value(dims[i]);
  }
}

void OnnxGraph::add_output(const std::string& name, int64_t rank, bool batched) {
  auto* out = impl_->graph->add_output();
  out->set_name(name);
  auto* tt = out->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  for (int64_t i = 0; i < rank; ++i)
    shape->add_dim()->set_dim_param(i == 0 && batched ? "N" : name + "_d" + std::to_string(i));
}

namespace {
onnx::TensorProto* new_init(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& dims, int type) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  return t;
}
int64_t count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}
}  // namespace

std::string OnnxGraph::add_float(const std::string& name, const std::vector<int64_t>& dims, const float* data) {
  const std::string n = unique(name);
  new_init(impl_->graph, n, dims, onnx::TensorProto::FLOAT)
      ->set_raw_data(std::string(reinterpret_cast<const char*>(data), count(dims) * sizeof(float)));
  return n;
}

std::string OnnxGraph::add_int8(const std::string& name, const std::vector<int64_t>& dims, const int8_t* data) {
  const std::string n = unique(name);
  new_init(impl_->graph, n, dims, onnx::TensorProto::INT8)
      ->set_raw_data(std::string(reinterpret_cast<const char*>(data), count(dims)));
  return n;
}

std::string OnnxGraph::add_int32(const std::string& name, const std::vector<int64_t>& dims, const int32_t* data) {
  const std::string n = unique(name);
  new_init(impl_->graph, n, dims, onnx::TensorProto::INT32)
      ->set_raw_data(std::string(reinterpret_cast<const char*>(data), count(dims) * sizeof(int32_t)));
  return n;
}

std::string OnnxGraph::add_uint8(const std::string& name, const std::vector<int64_t>& dims, const uint8_t* data) {
  const std::string n = unique(name);
  new_init(impl_->graph, n, dims, onnx::TensorProto::UINT8)
      ->set_raw_data(std::string(reinterpret_cast<const char*>(data), count(dims)));
  return n;
}

std::string OnnxGraph::add_int64(const std::string& name, const std::vector<int64_t>& dims, const int64_t* data) {
  const std::string n = unique(name);
  new_init(impl_->graph, n, dims, onnx::TensorProto::INT64)
      ->set_raw_data(std::string(reinterpret_cast<const char*>(data), count(dims) * sizeof(int64_t)));
  return n;
}

std::vector<std::string> OnnxGraph::add_node(const std::string& op, const std::vector<std::string>& inputs,
                                             const std::string& name, const std::vector<Attr>& attrs, int n_outputs) {
  auto* node = impl_->graph->add_node();
  node->set_op_type(op);
  node->set_name(unique(name + "/" + op));
  for (const auto& i : inputs) node->add_input(i);
  std::vector<std::string> outs;
  for (int k = 0; k < n_outputs; ++k) {
    outs.push_back(unique(name + (n_outputs > 1 ? "_" + std::to_string(k) : "")));
    node->add_output(outs.back());
  }
  for (const auto& a : attrs) {
    auto* p = node->add_attribute();
    p->set_name(a.name);
    if (auto* i = std::get_if<int64_t>(&a.value))
      p->set_type(onnx::AttributeProto::INT), p->set_i(*i);
    else if (auto* f = std::get_if<float>(&a.value))
      p->set_type(onnx::AttributeProto::FLOAT), p->set_f(*f);
    else if (auto* is = std::get_if<std::vector<int64_t>>(&a.value)) {
      p->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : *is) p->add_ints(v);
    } else if (auto* fs = std::get_if<std::vector<float>>(&a.value)) {
      p->set_type(onnx::AttributeProto::FLOATS);
      for (float v : *fs) p->add_floats(v);
    } else {
      p->set_type(onnx::AttributeProto::STRING), p->set_s(std::get<std::string>(a.value));
    }
  }
  return outs;
}

void OnnxGraph::set_doc(const std::string& doc) { impl_->model.set_doc_string(doc); }

int64_t OnnxGraph::num_nodes() const { return impl_->graph->node_size(); }

void OnnxGraph::save(const std::string& path) {
  try {
    onnx::checker::check_model(impl_->model);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("exported ONNX model fails onnx::checker: ") + e.what());
  }
  std::string bytes;
  if (!impl_->model.SerializeToString(&bytes))
    throw std::runtime_error("cannot serialize the ONNX model for '" + path + "'");
  write_file_atomic(path, bytes);  // checked writes, fsync, rename; the previous file is kept on failure
}

namespace {
onnx::ModelProto load_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  onnx::ModelProto m;
  if (!in || !m.ParseFromIstream(&in)) throw std::runtime_error("cannot parse ONNX file '" + path + "'");
  return m;
}
}  // namespace

std::map<std::string, std::vector<float>> read_float_initializers(const std::string& path) {
  const auto m = load_model(path);
  std::map<std::string, std::vector<float>> out;
  for (const auto& t : m.graph().initializer()) {
    if (t.data_type() != onnx::TensorProto::FLOAT) continue;
    std::vector<float> v(t.raw_data().size() / sizeof(float));
    std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(float));
    out[t.name()] = std::move(v);
  }
  return out;
}

std::vector<int64_t> read_input_dims(const std::string& path) {
  const auto m = load_model(path);
  if (m.graph().input_size() == 0) throw std::runtime_error("ONNX file '" + path + "' has no input");
  std::vector<int64_t> dims;
  for (const auto& d : m.graph().input(0).type().tensor_type().shape().dim())
    dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return dims;
}

std::vector<std::string> read_op_types(const std::string& path) {
  const auto m = load_model(path);
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
  return ops;
}

std::vector<NodeInfo> read_nodes(const std::string& path) {
  const auto m = load_model(path);
  std::vector<NodeInfo> out;
  for (const auto& n : m.graph().node()) {
    NodeInfo i;
    i.op = n.op_type();
    i.name = n.name();
    i.inputs.assign(n.input().begin(), n.input().end());
    i.outputs.assign(n.output().begin(), n.output().end());
    for (const auto& a : n.attribute())
      if (a.type() == onnx::AttributeProto::INT) i.ints[a.name()] = a.i();
    out.push_back(std::move(i));
  }
  return out;
}

std::map<std::string, int> read_initializer_types(const std::string& path) {
  const auto m = load_model(path);
  std::map<std::string, int> out;
  for (const auto& t : m.graph().initializer()) out[t.name()] = t.data_type();
  return out;
}

std::vector<QdqPoint> expose_activation_qdq(const std::string& path, const std::string& copy_path) {
  auto m = load_model(path);
  auto* g = m.mutable_graph();
  std::set<std::string> q_outputs;  // tensors that a QuantizeLinear writes
  for (const auto& n : g->node())
    if (n.op_type() == "QuantizeLinear") q_outputs.insert(n.output(0));
  std::map<std::pair<std::string, std::string>, int64_t> seen;
  std::vector<QdqPoint> points;
  std::vector<std::string> outs;
  for (const auto& n : g->node()) {
    if (n.op_type() != "DequantizeLinear" || !q_outputs.count(n.input(0))) continue;
    const std::string& t = n.output(0);
    for (const char* kind : {"input", "output"}) {
      const std::string tag = std::string(".") + kind + "_dq";
      const auto at = t.rfind(tag);
      if (at == std::string::npos) continue;
      // The exporter's names: <conv>.<kind>_dq, then _<n> where the name repeats.
      const std::string rest = t.substr(at + tag.size());
      if (!rest.empty() && rest.find_first_not_of("_0123456789") != std::string::npos) continue;
      QdqPoint p;
      p.tensor = t;
      p.conv = t.substr(0, at);
      p.kind = kind;
      p.site = seen[{p.conv, p.kind}]++;
      points.push_back(p);
      outs.push_back(t);
      break;
    }
  }
  for (const auto& t : outs) {
    auto* v = g->add_output();
    v->set_name(t);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes))
    throw std::runtime_error("cannot serialize the verification copy of '" + path + "'");
  write_file_atomic(copy_path, bytes, /*sync=*/false);
  return points;
}

void scale_float_initializer(const std::string& path, const std::string& name, float factor) {
  auto m = load_model(path);
  for (auto& t : *m.mutable_graph()->mutable_initializer()) {
    if (t.name() != name) continue;
    if (t.data_type() != onnx::TensorProto::FLOAT) throw std::runtime_error("initializer '" + name + "' is not float");
    std::string raw = t.raw_data();
    for (size_t i = 0; i + sizeof(float) <= raw.size(); i += sizeof(float)) {
      float v;
      std::memcpy(&v, raw.data() + i, sizeof v);
      v *= factor;
      std::memcpy(raw.data() + i, &v, sizeof v);
    }
    t.set_raw_data(raw);
    std::string bytes;
    m.SerializeToString(&bytes);
    write_file_atomic(path, bytes);
    return;
  }
  throw std::runtime_error("no initializer '" + name + "' in '" + path + "'");
}

}  // namespace compress::onnx_export
