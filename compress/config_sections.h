// Composes the config schema: train's own sections plus those the modules own
// (pretrain, quant, prune, distill). The CLI and the test runner call it once
// before any config is loaded; a config naming a section nobody added is an
// unknown key.
#pragma once

namespace compress {

// Idempotent: later calls do nothing.
void compose_config_schema();

}  // namespace compress
