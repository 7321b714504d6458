// Process-wide settings a run takes from its config: CPU threads and the seed.
#pragma once

namespace compress {
class Config;
void apply_runtime_settings(const Config& cfg);
}  // namespace compress
