// Reads a Perfetto trace scope wrote the way a test should: `protoc --decode` against the subset
// .proto in the repository (src/export/perfetto_trace.proto), then the text it prints parsed into
// tracks and events with their timestamps resolved (the incremental clock replayed), and the
// structure checked: each slice ends on the track it began on, slices nest, time never goes back
// on a track.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace scope::testing {

// A node of protoc's text format: `name: value` or `name { ... }`.
struct TextNode {
  std::string name, value;
  std::vector<std::unique_ptr<TextNode>> children;
  const TextNode* child(const std::string& n) const {
    for (const auto& c : children)
      if (c->name == n) return c.get();
    return nullptr;
  }
  std::string get(const std::string& n, const std::string& fallback = "") const {
    const TextNode* c = child(n);
    return c ? c->value : fallback;
  }
  std::vector<const TextNode*> all(const std::string& n) const {
    std::vector<const TextNode*> out;
    for (const auto& c : children)
      if (c->name == n) out.push_back(c.get());
    return out;
  }
};

// protoc quotes strings with C escapes; the tests' strings need only \" and \\ undone.
inline std::string unquote(const std::string& v) {
  if (v.size() < 2 || v.front() != '"') return v;
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

inline std::unique_ptr<TextNode> parse_text_format(const std::string& text) {
  auto root = std::make_unique<TextNode>();
  std::vector<TextNode*> stack{root.get()};
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t a = line.find_first_not_of(' ');
    if (a == std::string::npos) continue;
    line = line.substr(a);
    if (line == "}") {
      stack.pop_back();
      continue;
    }
    auto node = std::make_unique<TextNode>();
    if (line.size() > 2 && line.substr(line.size() - 2) == " {") {
      node->name = line.substr(0, line.size() - 2);
      TextNode* raw = node.get();
      stack.back()->children.push_back(std::move(node));
      stack.push_back(raw);
    } else {
      size_t colon = line.find(": ");
      node->name = line.substr(0, colon);
      node->value = colon == std::string::npos ? "" : unquote(line.substr(colon + 2));
      stack.back()->children.push_back(std::move(node));
    }
  }
  return root;
}

struct DecodedEvent {
  std::string type;  // TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT, TYPE_COUNTER
  uint64_t track = 0;
  int64_t ts = 0;
  std::string name;                         // interned names resolved
  std::map<std::string, std::string> args;  // values as protoc prints them, labels resolved
  int64_t counter = 0;
};

struct DecodedTrack {
  uint64_t parent = 0;
  std::string name;  // a process's or thread's name for those
  int64_t pid = -1, tid = -1;
  bool counter = false;
  std::vector<std::string> cmdline;
};

struct DecodedTrace {
  std::string error;  // protoc's, or the first structural fault
  std::map<uint64_t, DecodedTrack> tracks;
  std::vector<DecodedEvent> events;
  size_t packets = 0;

  size_t count(const std::string& type, const std::string& name = "") const {
    size_t n = 0;
    for (const auto& e : events) n += e.type == type && (name.empty() || e.name == name);
    return n;
  }
  // The track of `pid`'s process, 0 when none.
  uint64_t process_track(int64_t pid) const {
    for (const auto& [uuid, t] : tracks)
      if (t.pid == pid && t.tid < 0 && !t.counter) return uuid;
    return 0;
  }
};

inline std::string protoc_path() {
  for (const char* p : {"/usr/bin/protoc", "/usr/local/bin/protoc"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

inline DecodedTrace decode_trace(const std::string& file, const std::string& proto) {
  DecodedTrace out;
  std::string cmd = protoc_path() + " --proto_path=" + proto.substr(0, proto.rfind('/')) +
                    " --decode=perfetto.protos.Trace " + proto.substr(proto.rfind('/') + 1) +
                    " < " + file + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int st = pclose(p);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    out.error = "protoc: " + text.substr(0, 2000);
    return out;
  }
  auto root = parse_text_format(text);
  std::map<uint64_t, std::string> names, arg_names, labels;
  int64_t clock = 0;
  bool cleared = false;
  auto fail = [&](const std::string& why) {
    if (out.error.empty()) out.error = why;
  };
  for (const TextNode* packet : root->all("packet")) {
    ++out.packets;
    if (packet->get("trusted_packet_sequence_id") != "1") fail("a packet off sequence 1");
    if (const TextNode* snap = packet->child("clock_snapshot")) {
      for (const TextNode* c : snap->all("clocks"))
        if (c->get("clock_id") == "64") clock = std::stoll(c->get("timestamp", "0"));
    }
    auto flags = packet->get("sequence_flags", "0");
    if (flags == "1") cleared = true;
    if (!cleared) fail("a packet before SEQ_INCREMENTAL_STATE_CLEARED");
    int64_t ts = clock;
    if (packet->child("timestamp")) {
      int64_t t = std::stoll(packet->get("timestamp"));
      if (packet->get("timestamp_clock_id") == "6")
        ts = t;
      else
        ts = clock += t;
    }
    if (const TextNode* in = packet->child("interned_data")) {
      for (auto [field, table] :
           {std::pair{"event_names", &names}, std::pair{"debug_annotation_names", &arg_names}})
        for (const TextNode* e : in->all(field))
          (*table)[std::stoull(e->get("iid"))] = e->get("name");
      for (const TextNode* e : in->all("debug_annotation_string_values"))
        labels[std::stoull(e->get("iid"))] = e->get("str");
    }
    if (const TextNode* d = packet->child("track_descriptor")) {
      uint64_t uuid = std::stoull(d->get("uuid"));
      DecodedTrack& t = out.tracks[uuid];
      t.parent = std::stoull(d->get("parent_uuid", "0"));
      t.name = d->get("name");
      if (const TextNode* pr = d->child("process")) {
        t.pid = std::stoll(pr->get("pid"));
        t.name = pr->get("process_name");
        t.cmdline.clear();
        for (const TextNode* a : pr->all("cmdline")) t.cmdline.push_back(a->value);
      }
      if (const TextNode* th = d->child("thread")) {
        t.pid = std::stoll(th->get("pid"));
        t.tid = std::stoll(th->get("tid"));
        t.name = th->get("thread_name");
      }
      t.counter = d->child("counter") != nullptr;
    }
    if (const TextNode* te = packet->child("track_event")) {
      DecodedEvent e;
      e.type = te->get("type");
      e.track = std::stoull(te->get("track_uuid", "0"));
      e.ts = ts;
      if (te->child("name_iid")) {
        auto it = names.find(std::stoull(te->get("name_iid")));
        if (it == names.end())
          fail("an event name never interned");
        else
          e.name = it->second;
      }
      for (const TextNode* a : te->all("debug_annotations")) {
        std::string name = arg_names[std::stoull(a->get("name_iid", "0"))];
        std::string value;
        if (a->child("string_value_iid"))
          value = labels[std::stoull(a->get("string_value_iid"))];
        else
          for (const auto& c : a->children)
            if (c->name != "name_iid") value = c->value;
        e.args[name] = value;
      }
      if (te->child("counter_value")) e.counter = std::stoll(te->get("counter_value"));
      if (!out.tracks.count(e.track)) fail("an event on a track never described");
      out.events.push_back(std::move(e));
    }
  }
  // Structure, per track in file order (the writer's order is the time order).
  std::map<uint64_t, std::vector<int64_t>> open;
  std::map<uint64_t, int64_t> last;
  for (const auto& e : out.events) {
    auto [it, added] = last.try_emplace(e.track, e.ts);
    if (!added && e.ts < it->second) fail("time goes back on track " + std::to_string(e.track));
    it->second = e.ts;
    if (e.type == "TYPE_SLICE_BEGIN") open[e.track].push_back(e.ts);
    if (e.type == "TYPE_SLICE_END") {
      if (open[e.track].empty())
        fail("an end with no begin on track " + std::to_string(e.track));
      else
        open[e.track].pop_back();
    }
  }
  for (const auto& [track, begins] : open)
    if (!begins.empty()) fail("a slice never ended on track " + std::to_string(track));
  return out;
}

}  // namespace scope::testing
