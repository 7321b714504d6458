#include <gtest/gtest.h>

#include "train/config/suggest.h"

using compress::closest_names;
using compress::edit_distance;

TEST(EditDistance, MatchesHandComputedValues) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("batch_size", "batch_size"), 0u);
  EXPECT_EQ(edit_distance("batch_sise", "batch_size"), 1u);
}

TEST(ClosestNames, SuggestsOnlyPlausibleTypos) {
  const std::vector<std::string> keys = {"batch_size", "shuffle", "drop_last", "worker_num"};
  const auto best = closest_names("batchsize", keys);
  ASSERT_FALSE(best.empty());
  EXPECT_EQ(best[0], "batch_size");
  EXPECT_TRUE(closest_names("zzzzzzzzzz", keys).empty());
}
