#include "families/library_probes.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "discover/proc_maps.h"

namespace scope::families {

bool named_like(const std::string& path, const std::vector<std::string>& prefixes) {
  auto slash = path.rfind('/');
  std::string_view base(path);
  if (slash != std::string::npos) base.remove_prefix(slash + 1);
  for (const auto& p : prefixes)
    if (base.substr(0, p.size()) == p) return true;
  return false;
}

LibraryProbes::LibraryProbes(std::string family, std::vector<std::string> expected,
                             std::vector<std::string> name_prefixes, SymbolMatcher matcher)
    : family_(std::move(family)),
      expected_(std::move(expected)),
      prefixes_(std::move(name_prefixes)),
      matcher_(std::move(matcher)) {}

void LibraryProbes::note_problem(const std::string& line) {
  if (problem_set_.insert(line).second) {
    problems_.push_back(line);
    spdlog::warn("{}", line);
  }
}

void LibraryProbes::set_links(probe::UprobeLinks* links, std::vector<Programs> programs) {
  links_ = links;
  programs_ = std::move(programs);
  if (links_) return;
  seen_.clear();
  tag_groups_.clear();
  deferred_.clear();
  tagged_on_.clear();
}

Status LibraryProbes::attach_group(const std::string& key, const std::string& path, int index,
                                   const std::string& tag,
                                   const std::vector<const LibrarySymbol*>& syms,
                                   std::vector<std::string>* names) {
  if (!links_ || index < 0 || static_cast<size_t>(index) >= programs_.size())
    return make_error(Errc::kInternal, family_ + ": no program pair " + std::to_string(index));
  std::vector<probe::ProbePoint> points;
  for (const auto* s : syms) points.push_back({s->cookie, s->offset});
  std::string group = family_ + ":" + key + ":" + std::to_string(index) + ":" + tag;
  auto r = links_->attach(group, path, points, programs_[index].entry, programs_[index].ret);
  if (!r) return make_error("scope: " + family_ + ": " + r.error());
  if (!tag.empty()) tag_groups_[tag].push_back(group);
  for (const auto* s : syms) {
    if (names) names->push_back(s->name);
    found_.insert(s->name);
  }
  return Ok{};
}

LibraryProbes::Match LibraryProbes::on_library(const std::string& path) {
  Match m;
  m.key = discover::file_key(path);
  if (m.key.empty()) return m;
  if (auto it = seen_.find(m.key); it != seen_.end()) {
    m.library = it->second;
    return m;
  }
  bool named = named_like(path, prefixes_);
  auto elf = discover::ElfFile::open(path);
  if (!elf) {
    if (named) note_problem("scope: " + family_ + ": cannot read " + path + ": " + elf.error());
    seen_[m.key] = false;
    return m;
  }
  std::vector<LibrarySymbol> symbols = matcher_(*elf, path);
  if (symbols.empty()) {
    if (named && !elf->has_symtab() && !elf->has_dynsym()) {
      note_problem("scope: " + family_ + ": " + path +
                   " has no symbol table (stripped): nothing attached to it");
    } else if (named) {
      // libggml.so (the backend registry), GPU backends other than CUDA and
      // libllama-common define none of the probed functions: only when no
      // library of the family had any is that a problem (problems()).
      spdlog::debug("{}: {} defines none of the probed functions", family_, path);
      unprobed_.push_back(path);
    }
    seen_[m.key] = false;
    return m;
  }
  seen_[m.key] = m.library = m.first_time = true;
  if (!links_) return m;
  // One attach per program pair (and tag), each with its symbols' cookies; deferred tags wait
  // for set_tagged.
  std::map<std::pair<int, std::string>, std::vector<const LibrarySymbol*>> groups;
  for (const auto& s : symbols) {
    if (!s.tag.empty() && detached_tags_.count(s.tag)) continue;
    if (s.deferred && !s.tag.empty()) {
      auto& d = deferred_[{m.key, s.tag}];
      auto it = std::find_if(d.begin(), d.end(),
                             [&](const Deferred& x) { return x.index == s.programs; });
      if (it == d.end()) it = d.insert(d.end(), Deferred{path, s.programs, {}});
      it->symbols.push_back(s);
      continue;
    }
    groups[{s.programs, s.tag}].push_back(&s);
  }
  Attached a{path, {}};
  for (const auto& [what, syms] : groups)
    if (auto st = attach_group(m.key, path, what.first, what.second, syms, &a.symbols); !st)
      note_problem(st.error());
  if (!a.symbols.empty()) {
    spdlog::info("{}: attached {} probes to {}", family_, a.symbols.size(), path);
    attached_.push_back(std::move(a));
  }
  return m;
}

Status LibraryProbes::set_tagged(const std::string& key, const std::string& tag, bool on) {
  auto d = deferred_.find({key, tag});
  if (d == deferred_.end() || !links_) return Ok{};
  bool is_on = tagged_on_.count({key, tag}) != 0;
  if (on == is_on) return Ok{};
  if (!on) {
    for (const auto& group : d->second)
      links_->detach(family_ + ":" + key + ":" + std::to_string(group.index) + ":" + tag);
    tagged_on_.erase({key, tag});
    return Ok{};
  }
  for (const auto& group : d->second) {
    std::vector<const LibrarySymbol*> syms;
    for (const auto& s : group.symbols) syms.push_back(&s);
    if (auto st = attach_group(key, group.path, group.index, tag, syms, nullptr); !st) {
      note_problem(st.error());
      return st;
    }
  }
  tagged_on_.insert({key, tag});
  return Ok{};
}

void LibraryProbes::detach(const std::string& tag) {
  if (!detached_tags_.insert(tag).second || !links_) return;
  for (const auto& group : tag_groups_[tag]) links_->detach(group);
  tag_groups_.erase(tag);
}

nlohmann::json LibraryProbes::libraries_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : attached_) out.push_back({{"path", a.path}, {"symbols", a.symbols}});
  return out;
}

std::vector<std::string> LibraryProbes::attached_paths() const {
  std::vector<std::string> out;
  for (const auto& a : attached_) out.push_back(a.path);
  return out;
}

std::vector<std::string> LibraryProbes::not_found() const {
  std::vector<std::string> out;
  for (const auto& e : expected_)
    if (!found_.count(e)) out.push_back(e);
  return out;
}

std::vector<std::string> LibraryProbes::problems() const {
  std::vector<std::string> out = problems_;
  if (attached_.empty() && !unprobed_.empty()) {
    std::string files;
    for (size_t i = 0; i < unprobed_.size(); ++i) files += (i ? ", " : "") + unprobed_[i];
    out.push_back("scope: " + family_ + ": " + files + " define" +
                  (unprobed_.size() == 1 ? "s" : "") + " none of the " + family_ +
                  " functions scope probes (renamed, or a version scope does not know): "
                  "nothing attached");
  }
  return out;
}

std::vector<std::string> LibraryProbes::report_lines() const {
  std::vector<std::string> lines;
  for (const auto& a : attached_)
    lines.push_back("attached " + std::to_string(a.symbols.size()) + " probes to " + a.path);
  if (attached_.empty()) lines.push_back("no " + family_ + " library seen: nothing attached");
  auto missing = not_found();
  if (!attached_.empty() && !missing.empty()) {
    std::string s = "not found: ";
    for (size_t i = 0; i < missing.size(); ++i) s += (i ? ", " : "") + missing[i];
    lines.push_back(s);
  }
  for (const auto& p : problems()) lines.push_back(p.rfind("scope: ", 0) == 0 ? p.substr(7) : p);
  return lines;
}

}  // namespace scope::families
