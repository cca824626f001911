#include "common/redact.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

namespace scope {

namespace {

using Range = std::pair<size_t, size_t>;  // [begin, end) in one argument

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_quote(char c) { return c == '\'' || c == '"'; }
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != b[i]) return false;
  return true;
}

// A name with its leading dashes dropped, in lower case, '-' and '.' as '_'; at most 63
// characters (a longer one is not taken for a name).
class Name {
 public:
  explicit Name(std::string_view raw) {
    while (!raw.empty() && raw.front() == '-') raw.remove_prefix(1);
    if (raw.empty() || raw.size() >= buf_.size()) return;
    for (char c : raw) {
      if (!is_name_char(c)) return;
      buf_[len_++] = c == '-' || c == '.' ? '_' : lower(c);
    }
  }
  std::string_view view() const { return {buf_.data(), len_}; }

 private:
  std::array<char, 64> buf_{};
  size_t len_ = 0;
};

// Whether a flag, variable, parameter or header called `raw` holds a credential (redact.h).
bool secret_name(std::string_view raw) {
  Name name(raw);
  std::string_view n = name.view();
  if (n.empty()) return false;
  size_t us = n.rfind('_');
  std::string_view last = us == std::string_view::npos ? n : n.substr(us + 1);
  std::string_view first = n.substr(0, n.find('_'));
  // Valueless switches: --no-password, --ask-pass, --prompt-password.
  if (first != n && (first == "no" || first == "ask" || first == "prompt")) return false;
  for (std::string_view end : {"password", "passwd", "token", "secret", "passphrase", "credential",
                               "credentials", "apikey"})
    if (last.size() >= end.size() && last.substr(last.size() - end.size()) == end) return true;
  if (last == "pass" || last == "auth") return true;  // openssl -pass, --auth user:pass
  if (last == "pwd") return last != n;                // MYSQL_PWD, not the shell's PWD
  std::string_view before = us == std::string_view::npos ? std::string_view() : n.substr(0, us);
  if (last == "key")
    for (std::string_view kind : {"api", "access", "secret", "private", "master", "encryption"})
      if (before.size() >= kind.size() && before.substr(before.size() - kind.size()) == kind &&
          (before.size() == kind.size() || before[before.size() - kind.size() - 1] == '_'))
        return true;
  if (last == "id" && before.size() >= 10 && before.substr(before.size() - 10) == "access_key")
    return true;
  return false;
}

// A header whose value is a credential: Authorization, Proxy-Authorization, X-Api-Key, ...
bool secret_header(std::string_view name) {
  return iequals(name, "authorization") || iequals(name, "proxy-authorization") ||
         secret_name(name);
}

// An HTTP authentication scheme: the credentials are the word after it.
bool auth_scheme(std::string_view w) {
  for (std::string_view s : {"bearer", "basic", "digest", "token", "negotiate", "ntlm", "apikey",
                             "key", "sso-key", "aws4-hmac-sha256"})
    if (iequals(w, s)) return true;
  return false;
}

// Programs whose single-letter flags take a credential: curl -u USER:PASS, mysql -pPASS (the
// MySQL and MariaDB clients), sshpass -p PASS, redis-cli -a PASS.
enum class Tool { kOther, kCurl, kMysql, kSshpass, kRedisCli };

Tool tool_of(std::string_view w) {
  size_t slash = w.rfind('/');
  if (slash != std::string_view::npos) w.remove_prefix(slash + 1);
  if (w == "curl") return Tool::kCurl;
  if (w == "sshpass") return Tool::kSshpass;
  if (w == "redis-cli" || w == "valkey-cli" || w == "keydb-cli") return Tool::kRedisCli;
  for (std::string_view p : {"mysql", "mariadb"})
    if (w.substr(0, p.size()) == p &&
        (w.size() == p.size() ||
         std::all_of(w.begin() + static_cast<std::ptrdiff_t>(p.size()), w.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || c == '-' || c == '_'; })))
      return Tool::kMysql;  // mysql, mysqldump, mysqladmin, mariadb-dump, ...
  return Tool::kOther;
}

// AKIA..., ASIA...: an AWS access key id (4 letters and 16 upper-case letters or digits).
bool aws_key_id_at(std::string_view w, size_t i) {
  if (w.size() - i < 20) return false;
  std::string_view p = w.substr(i, 4);
  if (p != "AKIA" && p != "ASIA") return false;
  for (size_t k = i + 4; k < i + 20; ++k)
    if (!((w[k] >= 'A' && w[k] <= 'Z') || (w[k] >= '2' && w[k] <= '7'))) return false;
  auto alnum = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  return (i == 0 || !alnum(w[i - 1])) && (i + 20 == w.size() || !alnum(w[i + 20]));
}

class Redactor {
 public:
  explicit Redactor(Tool tool) : tool_(tool) {}

  // The ranges of `arg` to replace, in `out` (unsorted, may overlap).
  void scan(const std::string& arg, std::vector<Range>& out) {
    size_t i = 0;
    while (i < arg.size()) {
      while (i < arg.size() && is_space(arg[i])) ++i;
      size_t end = i;
      while (end < arg.size() && !is_space(arg[end])) ++end;
      if (end > i) word(arg, i, end, out);
      i = end;
    }
  }

 private:
  enum class Pending { kNone, kValue, kShortValue, kHeaderValue, kCurlUser };

  // [b, e) of a word without the quotes around it.
  static void unquote(const std::string& s, size_t& b, size_t& e) {
    while (b < e && is_quote(s[b])) ++b;
    while (e > b && is_quote(s[e - 1])) --e;
  }

  static void add(std::vector<Range>& out, size_t b, size_t e) {
    if (e > b) out.emplace_back(b, e);
  }

  void word(const std::string& arg, size_t b, size_t e, std::vector<Range>& out) {
    unquote(arg, b, e);
    if (b == e) return;
    std::string_view w(arg.data() + b, e - b);
    Pending pending = std::exchange(pending_, Pending::kNone);
    switch (pending) {
      case Pending::kValue:
        if (w.substr(0, 2) == "--") break;  // another flag: that one had no value here
        add(out, b, e);
        return;
      case Pending::kShortValue:
        if (w.front() == '-') break;  // `mysql -p -h db`: -p prompts
        add(out, b, e);
        return;
      case Pending::kHeaderValue:
        if (auth_scheme(w))
          pending_ = Pending::kValue;
        else
          add(out, b, e);
        return;
      case Pending::kCurlUser:
        if (size_t c = w.find(':'); c != std::string_view::npos) add(out, b + c + 1, e);
        return;
      case Pending::kNone:
        break;
    }
    if (iequals(w, "bearer")) {
      pending_ = Pending::kValue;
      return;
    }
    // A program named in a shell command (`sh -c "mysql -pX db; curl -u a:b h"`): its flags
    // are read as its own up to the end of that command.
    if (Tool t = tool_of(w); t != Tool::kOther) {
      tool_ = t;
      return;
    }
    aws_key_ids(w, b, out);
    if (tool_ == Tool::kCurl && curl_user(w, b, out)) return;
    if (short_password(w, b, out)) return;
    if (header(w, b, e, out)) {
      end_of_command(w);
      return;
    }
    if (w.front() == '-' && w.find('=') == std::string_view::npos) {
      if (secret_name(w)) pending_ = Pending::kValue;
      return;
    }
    url_passwords(w, b, out);
    assignments(w, b, out);
    end_of_command(w);
  }

  // `;`, `&&`, `||`, `|` end a shell command: the next one's flags are not its program's.
  void end_of_command(std::string_view w) {
    char last = w.back();
    if (last == ';' || last == '&' || last == '|') tool_ = Tool::kOther;
  }

  // mysql -pPASS / -p PASS, sshpass -pPASS / -p PASS, redis-cli -aPASS / -a PASS. (For mysql
  // `-p NAME` prompts and NAME is the database: redacting it costs a name, never a secret.)
  bool short_password(std::string_view w, size_t b, std::vector<Range>& out) {
    char flag = tool_ == Tool::kMysql || tool_ == Tool::kSshpass ? 'p'
                : tool_ == Tool::kRedisCli                       ? 'a'
                                                                 : '\0';
    if (flag == '\0' || w.size() < 2 || w[0] != '-' || w[1] != flag) return false;
    if (w.size() == 2)
      pending_ = Pending::kShortValue;
    else
      add(out, b + 2, b + w.size());
    return true;
  }

  static void aws_key_ids(std::string_view w, size_t b, std::vector<Range>& out) {
    for (size_t i = w.find('A'); i != std::string_view::npos; i = w.find('A', i + 1))
      if (aws_key_id_at(w, i)) {
        add(out, b + i, b + i + 20);
        i += 19;
      }
  }

  // curl -u USER:PASS, -uUSER:PASS, --user USER:PASS, --user=USER:PASS.
  bool curl_user(std::string_view w, size_t b, std::vector<Range>& out) {
    if (w == "-u" || w == "--user") {
      pending_ = Pending::kCurlUser;
      return true;
    }
    size_t v = w.substr(0, 7) == "--user=" ? 7 : w.substr(0, 2) == "-u" ? 2 : 0;
    if (v == 0) return false;
    if (size_t c = w.find(':', v); c != std::string_view::npos) add(out, b + c + 1, b + w.size());
    return true;
  }

  // "Authorization:", "Authorization: Bearer X", "Authorization:Basic X", "X-Api-Key:X".
  bool header(std::string_view w, size_t b, size_t e, std::vector<Range>& out) {
    size_t c = w.find(':');
    if (c == 0 || c == std::string_view::npos || w.substr(c + 1, 2) == "//") return false;
    std::string_view name = w.substr(0, c);
    if (!std::all_of(name.begin(), name.end(), is_name_char) || !secret_header(name)) return false;
    std::string_view rest = w.substr(c + 1);
    if (rest.empty())
      pending_ = Pending::kHeaderValue;
    else if (auth_scheme(rest))
      pending_ = Pending::kValue;
    else
      add(out, b + c + 1, e);
    return true;
  }

  // scheme://user:PASS@host: the password (the last '@' before the path ends the userinfo).
  static void url_passwords(std::string_view w, size_t b, std::vector<Range>& out) {
    size_t from = 0;
    while ((from = w.find("://", from)) != std::string_view::npos) {
      size_t start = from + 3;
      size_t end = w.find_first_of("/?#", start);
      if (end == std::string_view::npos) end = w.size();
      size_t at = w.rfind('@', end - 1);
      if (at != std::string_view::npos && at >= start) {
        size_t c = w.find(':', start);
        if (c < at) add(out, b + c + 1, b + at);
      }
      from = end;
    }
  }

  // NAME=value at the word's start, ?name=value&..., a=b,name=value;...
  static void assignments(std::string_view w, size_t b, std::vector<Range>& out) {
    size_t eq = 0;
    while ((eq = w.find('=', eq)) != std::string_view::npos) {
      size_t s = eq;
      while (s > 0 && is_name_char(w[s - 1])) --s;
      char delim = s == 0 ? '\0' : w[s - 1];
      size_t next = eq + 1;
      if (s < eq &&
          (delim == '\0' || delim == '?' || delim == '&' || delim == ',' || delim == ';')) {
        std::string_view stops = delim == '\0'                  ? std::string_view()
                                 : delim == '?' || delim == '&' ? std::string_view("&#")
                                                                : std::string_view(",;");
        size_t end = stops.empty() ? w.size() : w.find_first_of(stops, eq + 1);
        if (end == std::string_view::npos) end = w.size();
        // A secret's value ends the scan there; any other value may hold the next name=value
        // (`username=me,password=pw`, `--opt=a,token=b`).
        if (secret_name(w.substr(s, eq - s))) {
          add(out, b + eq + 1, b + end);
          next = end;
        }
      }
      eq = next;
    }
  }

  Tool tool_;
  Pending pending_ = Pending::kNone;
};

}  // namespace

size_t redact_argv(std::vector<std::string>& argv) {
  Redactor r(Tool::kOther);  // argv[0], a word like any other, names the program
  std::vector<Range> ranges;
  size_t total = 0;
  for (auto& arg : argv) {
    ranges.clear();
    r.scan(arg, ranges);
    if (ranges.empty()) continue;
    std::sort(ranges.begin(), ranges.end());
    std::string out;
    out.reserve(arg.size());
    size_t pos = 0;
    for (size_t k = 0; k < ranges.size(); ++k) {
      auto [b, e] = ranges[k];
      while (k + 1 < ranges.size() && ranges[k + 1].first <= e) e = std::max(e, ranges[++k].second);
      if (b < pos) b = pos;
      out.append(arg, pos, b - pos);
      out += kRedacted;
      pos = e;
      ++total;
    }
    out.append(arg, pos, std::string::npos);
    arg = std::move(out);
  }
  return total;
}

}  // namespace scope
