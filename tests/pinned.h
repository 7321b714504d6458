// Pinning a model's full parameter list to a text file under tests/data/.
#pragma once
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "tests/test_util.h"

namespace testutil {

inline std::string describe_params(const torch::nn::Module& m) {
  std::ostringstream os;
  for (const auto& p : m.named_parameters()) os << p.key() << " " << p.value().sizes() << "\n";
  return os.str();
}

// Compares with tests/data/<name>; COMPRESS_UPDATE_GOLDEN=1 rewrites the file.
inline void expect_pinned(const std::string& name, const std::string& text) {
  const std::string path = source_path("tests/data/" + name);
  if (std::getenv("COMPRESS_UPDATE_GOLDEN")) write_text(path, text);
  const std::string pinned = read_text(path);
  ASSERT_FALSE(pinned.empty()) << "missing " << path << " (run with COMPRESS_UPDATE_GOLDEN=1 once)";
  EXPECT_EQ(text, pinned) << "parameter list of " << name << " changed";
}

}  // namespace testutil
