#include "common/rendezvous.h"

namespace zs {

uint64_t RendezvousScore(std::string_view key, std::string_view candidate) {
  uint64_t h = 14695981039346656037ULL;
  const auto add = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (char c : key) add(static_cast<unsigned char>(c));
  add(0);
  for (char c : candidate) add(static_cast<unsigned char>(c));
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::optional<size_t> RendezvousOwner(std::string_view key, const std::vector<std::string>& candidates) {
  std::optional<size_t> best;
  uint64_t best_score = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const uint64_t score = RendezvousScore(key, candidates[i]);
    if (!best || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

}  // namespace zs
