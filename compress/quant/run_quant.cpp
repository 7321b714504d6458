#include "compress/quant/run_quant.h"

#include "compress/quant/ptq.h"
#include "compress/quant/quant_stage.h"
#include "train/config/config.h"
#include "train/engine/trainer.h"

namespace compress::quant {

QuantRunResult run_quant(Config cfg, const QuantRunOptions& o) {
  QuantOptions qo = quant_options_from_config(cfg);
  if (o.not_quant_pattern) qo.not_quant_pattern = *o.not_quant_pattern;
  validate(qo);
  apply_stage_overrides(cfg, "quant");
  QuantRunResult res;
  res.run_dir = o.run_dir.empty() ? default_run_dir(cfg) + (o.post ? "_ptq" : "_quant") : o.run_dir;

  StageStart start = start_stage(cfg, o.resume, quant_stage_rules());
  res.report = wrap_for_qat(start, qo, res.run_dir);
  if (o.post) {
    res.ap = run_ptq(cfg, start, o.eval, res.run_dir);
    return res;
  }
  StageRun run;
  run.run_dir = res.run_dir;
  run.eval = o.eval;
  run.attach = freeze_bn_at(qo.freeze_bn_iter);
  res.ap = run_stage(cfg, start, run);
  return res;
}

}  // namespace compress::quant
