// Detaching a skeleton's links one by one waits for an RCU grace period per
// link; destroying them from several threads lets those waits overlap.
#pragma once

#include <bpf/libbpf.h>

#include <thread>
#include <vector>

namespace scope::probe {

template <typename Skeleton>
void destroy_links_in_parallel(Skeleton* skel) {
  if (!skel || !skel->skeleton) return;
  std::vector<std::thread> threads;
  for (int i = 0; i < skel->skeleton->prog_cnt; ++i) {
    bpf_link** link = skel->skeleton->progs[i].link;
    if (!link || !*link) continue;
    bpf_link* l = *link;
    *link = nullptr;
    threads.emplace_back([l] { bpf_link__destroy(l); });
  }
  for (auto& t : threads) t.join();
}

}  // namespace scope::probe
