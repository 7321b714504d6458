// The graph's other nodes, one kernel each: elementwise and QDQ ops, pooling,
// concatenation, shape ops and the heads' softmax. Each reads its inputs in
// whatever layout they come in and keeps channels-last where that is free.
#pragma once
#include <string>
#include <vector>

#include "compress/runtime/model.h"
#include "compress/runtime/value.h"

namespace compress::runtime {

// Whether run_node has a kernel for this op type.
bool supported_op(const std::string& op);

// Runs node n on its inputs (nullptr for an omitted optional input); returns
// its outputs. Throws naming the node when an input is not what it runs.
std::vector<ValuePtr> run_node(const Node& n, const std::vector<ValuePtr>& in);

}  // namespace compress::runtime
