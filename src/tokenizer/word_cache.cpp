// The shared word -> token ids cache of a tokenizer.
#include "tokenizer/tokenizer_impl.h"

namespace qrag::tokenizer {

bool WordCache::lookup(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.size() > kMaxWordBytes) return false;
  Shard& shard = shards_[StringHash{}(word) % kShards];
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto it = shard.words.find(word);
  if (it == shard.words.end()) return false;
  out.insert(out.end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::insert(std::string_view word, const std::int32_t* ids, std::size_t n_ids) const {
  if (word.size() > kMaxWordBytes) return;
  Shard& shard = shards_[StringHash{}(word) % kShards];
  std::lock_guard<std::mutex> lock(shard.mutex);
  if (shard.words.size() >= kMaxEntriesPerShard) return;
  shard.words.emplace(std::string(word), std::vector<std::int32_t>(ids, ids + n_ids));
}

}  // namespace qrag::tokenizer
