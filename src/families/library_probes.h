// What the library families (llama, ggml) share: finding their symbols in
// the files processes map (by ELF contents, not fixed paths: Ollama's bundled
// libggml-*.so, node-llama-cpp's prebuilt copies, a llama.cpp build with
// ggml linked in), attaching each file once, and saying what was attached and
// what was not found.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "discover/elf_file.h"
#include "probe/uprobe_links.h"

struct bpf_program;

namespace scope::families {

// A symbol found in a library, and how to probe it.
struct LibrarySymbol {
  std::string name;  // as reported (demangled for C++)
  uint64_t cookie = 0;
  int programs = 0;  // index into LibraryProbes' program pairs
  uint64_t offset = 0;
  // Non-empty: the symbol gets links of its own, which detach(tag) removes.
  std::string tag;
  // With a tag: attached only when set_tagged(file, tag, true) asks (cuda's runtime launches).
  bool deferred = false;
};

// The symbols of `elf` a family probes. `path` is the file's path.
using SymbolMatcher = std::function<std::vector<LibrarySymbol>(const discover::ElfFile& elf,
                                                               const std::string& path)>;

// Whether a file's name says it is one of the family's libraries (its base
// name starts with one of `prefixes`, e.g. "libggml"). Such a file with none
// of the family's symbols is reported as a problem (stripped or renamed).
bool named_like(const std::string& path, const std::vector<std::string>& prefixes);

class LibraryProbes {
 public:
  struct Programs {
    bpf_program* entry = nullptr;
    bpf_program* ret = nullptr;  // may be null: entry only
  };

  // `family`: for messages; `expected`: symbol names to report as not found
  // when no library had them; `name_prefixes`: see named_like.
  LibraryProbes(std::string family, std::vector<std::string> expected,
                std::vector<std::string> name_prefixes, SymbolMatcher matcher);

  // Call once the skeleton's programs exist (after load); with null links (the family stopped)
  // every file is forgotten, to be attached again after a restart.
  void set_links(probe::UprobeLinks* links, std::vector<Programs> programs);

  struct Match {
    bool library = false;     // one of the family's libraries
    bool first_time = false;  // seen (and attached) just now
    std::string key;          // its file_key
  };
  // Attaches to `path` the first time its file is seen.
  Match on_library(const std::string& path);
  // Attaches (or detaches) the deferred symbols tagged `tag` of the file `key`.
  Status set_tagged(const std::string& key, const std::string& tag, bool on);
  bool tagged_attached(const std::string& key, const std::string& tag) const {
    return tagged_on_.count({key, tag}) != 0;
  }

  // Files attached: [{path, symbols: [...]}]; expected symbols no library had;
  // problems met (one line each).
  nlohmann::json libraries_json() const;
  std::vector<std::string> not_found() const;
  std::vector<std::string> problems() const;
  bool attached_any() const { return !attached_.empty(); }
  std::vector<std::string> attached_paths() const;
  // Removes the probes of symbols tagged `tag` from every file, now and later.
  void detach(const std::string& tag);
  // Human lines: "attached: PATH (N symbols)", "not found: a, b", problems.
  std::vector<std::string> report_lines() const;

 private:
  struct Attached {
    std::string path;
    std::vector<std::string> symbols;
  };
  void note_problem(const std::string& line);
  Status attach_group(const std::string& key, const std::string& path, int index,
                      const std::string& tag, const std::vector<const LibrarySymbol*>& syms,
                      std::vector<std::string>* names);
  struct Deferred {
    std::string path;
    int index = 0;
    std::vector<LibrarySymbol> symbols;
  };

  std::string family_;
  std::vector<std::string> expected_;
  std::vector<std::string> prefixes_;
  SymbolMatcher matcher_;
  probe::UprobeLinks* links_ = nullptr;
  std::vector<Programs> programs_;
  std::map<std::string, bool> seen_;  // file key -> is one of the family's libraries
  std::vector<Attached> attached_;
  std::set<std::string> found_;  // symbol names attached anywhere
  std::vector<std::string> problems_;
  std::set<std::string> problem_set_;
  std::vector<std::string> unprobed_;  // named like the family's libraries, nothing to probe
  std::map<std::string, std::vector<std::string>> tag_groups_;  // tag -> link groups
  std::set<std::string> detached_tags_;
  std::map<std::pair<std::string, std::string>, std::vector<Deferred>> deferred_;  // (key, tag)
  std::set<std::pair<std::string, std::string>> tagged_on_;
};

}  // namespace scope::families
