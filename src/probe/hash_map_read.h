// Reads every entry of a BPF hash map from userspace: in batches where the kernel has them
// (BPF_MAP_LOOKUP_BATCH, one syscall per chunk), else key by key. A family that polls a map of
// thousands of entries every second would otherwise make two syscalls per entry.
#pragma once

#include <bpf/bpf.h>

#include <cerrno>
#include <cstdint>
#include <utility>
#include <vector>

namespace scope::probe {

template <class Key, class Value>
std::vector<std::pair<Key, Value>> read_hash_map(int fd) {
  constexpr uint32_t kChunk = 4096;
  std::vector<std::pair<Key, Value>> out;
  std::vector<Key> keys(kChunk);
  std::vector<Value> vals(kChunk);
  uint32_t token = 0;  // a hash map's batch position is a bucket index
  bool first = true;
  while (true) {
    uint32_t count = kChunk;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &token, &token, keys.data(), vals.data(),
                                   &count, &opts);
    int e = err ? errno : 0;
    if (err && e != ENOENT) break;  // no batch support: key by key
    for (uint32_t i = 0; i < count; ++i) out.emplace_back(keys[i], vals[i]);
    if (err) return out;  // ENOENT: the end
    first = false;
  }
  out.clear();
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    Value v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) out.emplace_back(next, v);
    key = next;
    prev = &key;
  }
  return out;
}

}  // namespace scope::probe
