// DidYouMean: the suggestion in "unknown key" errors, for keys of the file and variables of
// the environment alike.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace outbox_relay::config {
namespace {

// Optimal string alignment distance: like Levenshtein, but a swap of neighbours ("dns" for
// "dsn", the most common typo) costs one edit instead of two.
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string DidYouMean(std::string_view name, const std::vector<std::string>& candidates) {
  // One edit per four characters is still a typo; more than that is a different name.
  const std::size_t allowed = std::max<std::size_t>(1, name.size() / 4);
  std::optional<std::string> best;
  std::size_t best_distance = allowed + 1;
  for (const std::string& candidate : candidates) {
    // The lengths' difference is a lower bound of the distance: skipping those candidates
    // keeps a long unknown name from costing a quadratic table per key (found by fuzzing).
    const std::size_t length_gap = std::max(name.size(), candidate.size()) -
                                   std::min(name.size(), candidate.size());
    if (length_gap >= best_distance) continue;
    const std::size_t distance = EditDistance(name, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best ? " (did you mean " + *best + "?)" : "";
}

}  // namespace outbox_relay::config
