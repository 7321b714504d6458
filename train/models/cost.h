// Parameter and multiply-add counts per conv layer, measured by running one
// forward pass (and postprocess, where RoI heads run) with a recorder that every
// ConvBNLayer / SEBlock / R-CNN box head reports to.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace compress {

struct DetectorImpl;

struct LayerCost {
  std::string name;  // module path, e.g. "backbone.blocks.4.res_conv1"
  int64_t params = 0;
  int64_t macs = 0;  // multiply-adds for one image
};

struct ModelCost {
  std::vector<LayerCost> layers;
  int64_t total_params = 0;  // all parameters of the model
  int64_t total_macs = 0;
};

ModelCost measure_cost(DetectorImpl& model, int64_t height, int64_t width);

namespace cost_detail {
// Called by layers during measure_cost(); a no-op otherwise. A box head
// records (RoIs, 1).
void record_output(const void* layer, int64_t out_h, int64_t out_w);
}  // namespace cost_detail

}  // namespace compress
