// The exec family's decoding, quoting, formatting and totals, from crafted
// ring records (no privileges).
#include "families/exec_family.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/redact.h"
#include "common/text.h"
#include "discover/process_info.h"
#include "families/family.h"

namespace scope::families {
namespace {

// A ring record as bpf/exec.bpf.c writes it: header, filename, then argv.
std::vector<uint8_t> exec_record(const std::string& filename, const std::vector<std::string>& argv,
                                 int32_t ret = 0, uint8_t flags = 0) {
  exec_event h{};
  h.kind = EXEC_KIND_EXEC;
  h.flags = flags;
  h.argc = static_cast<uint16_t>(argv.size());
  h.filename_len = static_cast<uint16_t>(filename.size() + 1);
  std::string args;
  for (const auto& a : argv) {
    args += a;
    args.push_back('\0');
  }
  h.args_len = static_cast<uint16_t>(args.size());
  h.pid = 100;
  h.tid = 101;
  h.ppid = 99;
  h.ret = ret;
  h.ts_ns = 5'000'000'000;
  h.duration_ns = 1234;
  h.uid = 1000;
  std::strncpy(h.comm, "echo", sizeof h.comm);
  std::string bytes(sizeof h, '\0');
  std::memcpy(bytes.data(), &h, sizeof h);
  bytes += filename;
  bytes.push_back('\0');
  bytes += args;
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

TEST(ExecFamilyDecode, FilenameArgvAndHeader) {
  auto rec = exec_record("/bin/echo", {"/bin/echo", "a b", "it's", "", "x"});
  auto e = decode_exec_record(rec.data(), rec.size(), 1'000);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->filename, "/bin/echo");
  EXPECT_EQ(e->argv, (std::vector<std::string>{"/bin/echo", "a b", "it's", "", "x"}));
  EXPECT_EQ(e->ts_ns, 5'000'001'000u);
  EXPECT_EQ(e->pid, 100u);
  EXPECT_EQ(e->tid, 101u);
  EXPECT_EQ(e->ppid, 99u);
  EXPECT_EQ(e->uid, 1000u);
  EXPECT_EQ(e->comm, "echo");
  EXPECT_EQ(e->ret, 0);
  EXPECT_EQ(e->duration_ns, 1234u);
  EXPECT_FALSE(e->argv_truncated);
  EXPECT_FALSE(e->execveat);
}

TEST(ExecFamilyDecode, FlagsAndEmptyArgv) {
  auto rec = exec_record("/x", {}, -2, EXEC_F_ARGV_TRUNCATED | EXEC_F_EXECVEAT);
  auto e = decode_exec_record(rec.data(), rec.size(), 0);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->argv.empty());
  EXPECT_TRUE(e->argv_truncated);
  EXPECT_TRUE(e->execveat);
  EXPECT_EQ(e->ret, -2);
  auto j = families::event_json(exec_row(*e));
  EXPECT_EQ(j["call"], "execveat");
  EXPECT_EQ(j["argv_truncated"], true);
  EXPECT_EQ(j["argv"], nlohmann::json::array());
}

TEST(ExecFamilyDecode, RejectsShortOrInconsistentRecords) {
  auto rec = exec_record("/bin/echo", {"echo", "hi"});
  EXPECT_FALSE(decode_exec_record(rec.data(), sizeof(exec_event) - 1, 0));
  EXPECT_FALSE(decode_exec_record(rec.data(), rec.size() - 1, 0));  // args cut short
  auto bad = rec;
  bad[0] = EXEC_KIND_EXIT;
  EXPECT_FALSE(decode_exec_record(bad.data(), bad.size(), 0));
  exec_event h;
  std::memcpy(&h, rec.data(), sizeof h);
  h.filename_len = 0;
  std::memcpy(rec.data(), &h, sizeof h);
  EXPECT_FALSE(decode_exec_record(rec.data(), rec.size(), 0));
}

TEST(ExecFamilyDecode, ArgcBoundsTheArguments) {
  // argc says 2 though 3 strings follow: only 2 are taken; an argument
  // without its NUL at the end of the data is taken whole.
  auto rec = exec_record("/f", {"a", "b", "c"});
  exec_event h;
  std::memcpy(&h, rec.data(), sizeof h);
  h.argc = 2;
  std::memcpy(rec.data(), &h, sizeof h);
  auto e = decode_exec_record(rec.data(), rec.size(), 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->argv, (std::vector<std::string>{"a", "b"}));

  rec = exec_record("/f", {"abc"});
  rec.pop_back();  // drop the last NUL
  std::memcpy(&h, rec.data(), sizeof h);
  h.args_len = 3;
  std::memcpy(rec.data(), &h, sizeof h);
  e = decode_exec_record(rec.data(), rec.size(), 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->argv, (std::vector<std::string>{"abc"}));
}

TEST(ExecFamilyDecode, ExitRecord) {
  exit_event h{};
  h.kind = EXEC_KIND_EXIT;
  h.pid = 7;
  h.tid = 8;
  h.ppid = 6;
  h.exit_code = (3 << 8);
  h.ts_ns = 100;
  h.lifetime_ns = 2'500'000;
  std::strncpy(h.comm, "sh", sizeof h.comm);
  auto e = decode_exit_record(&h, sizeof h, 10);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code(), 3);
  EXPECT_EQ(e->signal(), 0);
  EXPECT_EQ(e->ts_ns, 110u);
  auto j = families::event_json(exit_row(*e));
  EXPECT_EQ(j["event"], "exit");
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_EQ(j["lifetime_ns"], 2'500'000);
  EXPECT_FALSE(j.contains("signal"));
  EXPECT_EQ(format_exit_line(*e, 10),
            "   0.000000 sh[7/8]                  exit  ppid=6 code=3 lifetime=2.50ms");

  h.exit_code = 0x80 | 11;  // SIGSEGV, core dumped
  e = decode_exit_record(&h, sizeof h, 0);
  ASSERT_TRUE(e);
  j = families::event_json(exit_row(*e));
  EXPECT_EQ(j["signal"], 11);
  EXPECT_EQ(j["core_dumped"], true);
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_NE(format_exit_line(*e, 0).find("signal=11 (SIGSEGV) core dumped"), std::string::npos);
  EXPECT_FALSE(decode_exit_record(&h, sizeof h - 1, 0));
}

TEST(ExecFamilyFormat, QuoteArg) {
  EXPECT_EQ(quote_arg("ls"), "ls");
  EXPECT_EQ(quote_arg("/usr/bin/x-y_z.1=2,3:4"), "/usr/bin/x-y_z.1=2,3:4");
  EXPECT_EQ(quote_arg("a b"), "\"a b\"");
  EXPECT_EQ(quote_arg("it's"), "\"it's\"");
  EXPECT_EQ(quote_arg(""), "\"\"");
  EXPECT_EQ(quote_arg("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(quote_arg("$HOME\\`x`"), "\"\\$HOME\\\\\\`x\\`\"");
  EXPECT_EQ(quote_arg("a\nb\tc\x01"), "\"a\\nb\\tc\\x01\"");
  EXPECT_EQ(quote_arg("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 stays as is
}

TEST(ExecFamilyFormat, HumanLine) {
  auto rec = exec_record("/usr/bin/ls", {"ls", "-l", "a b"});
  auto e = decode_exec_record(rec.data(), rec.size(), 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(format_exec_line(*e, 4'000'000'000),
            "   1.000000 echo[100/101]            exec  ppid=99 ret=0 /usr/bin/ls ls -l \"a b\"");
  e->ret = -2;
  e->argv_truncated = true;
  EXPECT_EQ(format_exec_line(*e, 5'000'000'000),
            "   0.000000 echo[100/101]            exec  ppid=99 ret=-2 (ENOENT) /usr/bin/ls ls -l "
            "\"a b\" ...");
}

TEST(ExecFamilyFormat, Json) {
  auto rec = exec_record("/bin/echo", {"/bin/echo", "a b"}, -13);
  auto e = decode_exec_record(rec.data(), rec.size(), 0);
  ASSERT_TRUE(e);
  auto j = families::event_json(exec_row(*e));
  EXPECT_EQ(j["event"], "exec");
  EXPECT_EQ(j["pid"], 100);
  EXPECT_EQ(j["tid"], 101);
  EXPECT_EQ(j["comm"], "echo");
  EXPECT_EQ(j["ppid"], 99);
  EXPECT_EQ(j["filename"], "/bin/echo");
  EXPECT_EQ(j["argv"], (nlohmann::json{"/bin/echo", "a b"}));
  EXPECT_EQ(j["ret"], -13);
  EXPECT_EQ(j["call"], "execve");
  EXPECT_EQ(j["argv_truncated"], false);
  EXPECT_FALSE(j.contains("dirfd"));
  EXPECT_FALSE(j.contains("filename_truncated"));
}

TEST(ExecFamilyStats, CountsAndTopComms) {
  ExecStats s;
  auto make = [](const std::string& comm, int32_t ret) {
    ExecEvent e;
    e.comm = comm;
    e.ret = ret;
    return e;
  };
  for (int i = 0; i < 3; ++i) s.add(make("true", 0));
  s.add(make("sh", -2));
  s.add(make("echo", 0));
  for (int i = 0; i < 11; ++i) s.add(make("c" + std::to_string(i), 0));
  s.add(ExitEvent{});
  EXPECT_EQ(s.execs(), 16u);
  EXPECT_EQ(s.failed(), 1u);
  EXPECT_EQ(s.exits(), 1u);
  auto top = s.top_comms(10);
  ASSERT_EQ(top.size(), 10u);
  EXPECT_EQ(top[0], (std::pair<std::string, uint64_t>{"true", 3}));
  auto j = s.summary_json(2, 1);
  EXPECT_EQ(j["execs"], 16);
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["exits"], 1);
  EXPECT_EQ(j["by_comm"].size(), 10u);
  EXPECT_EQ(j["by_comm"][0]["comm"], "true");
  EXPECT_EQ(j["by_comm"][0]["count"], 3);
  EXPECT_EQ(j["dropped_execs"], 2);
  EXPECT_EQ(j["dropped_exits"], 1);
}

TEST(ExecFamilyFormat, ErrnoAndSignalNames) {
  EXPECT_EQ(errno_name(-2), "ENOENT");
  EXPECT_EQ(errno_name(-13), "EACCES");
  EXPECT_EQ(errno_name(-999), "errno 999");
  EXPECT_EQ(signal_name(9), "SIGKILL");
  EXPECT_EQ(signal_name(64), "SIG64");
}

// redact_argv on `argv`: what it became, and how many secrets it replaced.
using Args = std::vector<std::string>;
Args redacted(Args argv, size_t* count = nullptr) {
  size_t n = redact_argv(argv);
  if (count) *count = n;
  return argv;
}

TEST(ExecRedact, AuthorizationHeaders) {
  EXPECT_EQ(redacted({"curl", "-H", "Authorization: Bearer eyJhbGc.x.y", "https://api/v1"}),
            (Args{"curl", "-H", "Authorization: Bearer ***", "https://api/v1"}));
  EXPECT_EQ(redacted({"curl", "-H", "Authorization:Basic dXNlcjpwYXNz"}),
            (Args{"curl", "-H", "Authorization:Basic ***"}));
  EXPECT_EQ(redacted({"curl", "--header", "authorization: token ghp_abc"}),
            (Args{"curl", "--header", "authorization: token ***"}));
  EXPECT_EQ(redacted({"curl", "-H", "Authorization: rawcredential"}),
            (Args{"curl", "-H", "Authorization: ***"}));
  EXPECT_EQ(redacted({"curl", "-H", "Proxy-Authorization: Basic abc"}),
            (Args{"curl", "-H", "Proxy-Authorization: Basic ***"}));
  EXPECT_EQ(redacted({"curl", "-H", "X-Api-Key: k123", "-H", "Content-Type: text/plain"}),
            (Args{"curl", "-H", "X-Api-Key: ***", "-H", "Content-Type: text/plain"}));
  // "Bearer X" anywhere, also across arguments and inside a shell command.
  EXPECT_EQ(redacted({"tool", "Bearer", "abc"}), (Args{"tool", "Bearer", "***"}));
  EXPECT_EQ(redacted({"sh", "-c", "curl -H 'Authorization: Bearer tok' http://h; echo ok"}),
            (Args{"sh", "-c", "curl -H 'Authorization: Bearer ***' http://h; echo ok"}));
  EXPECT_EQ(redacted({"wget", "--header=Authorization: Bearer tok"}),
            (Args{"wget", "--header=Authorization: Bearer ***"}));
}

TEST(ExecRedact, CredentialFlagsInBothForms) {
  for (const char* flag :
       {"--password",      "--PASSWORD",      "--passwd",      "--token",        "--secret",
        "--api-key",       "--api_key",       "--apikey",      "--access-token", "--auth-token",
        "--client-secret", "--Client_Secret", "--private-key", "--secret-key",   "--db-password",
        "--github-token",  "-password",       "-pass",         "--passphrase",   "--auth"}) {
    size_t n = 0;
    EXPECT_EQ(redacted({"app", flag, "hunter2", "--port", "80"}, &n),
              (Args{"app", flag, "***", "--port", "80"}))
        << flag;
    EXPECT_EQ(n, 1u) << flag;
    std::string eq = std::string(flag) + "=hunter2";
    EXPECT_EQ(redacted({"app", eq}), (Args{"app", std::string(flag) + "=***"})) << flag;
  }
  EXPECT_EQ(redacted({"sh", "-c", "mysqldump --password s3cret db > x.sql"}),
            (Args{"sh", "-c", "mysqldump --password *** db > x.sql"}));
}

TEST(ExecRedact, UrlPasswords) {
  EXPECT_EQ(redacted({"redis-cli", "-u", "redis://:s3cret@cache:6379/0"}),
            (Args{"redis-cli", "-u", "redis://:***@cache:6379/0"}));
  EXPECT_EQ(redacted({"psql", "postgresql://app:pw@db:5432/prod?sslmode=require"}),
            (Args{"psql", "postgresql://app:***@db:5432/prod?sslmode=require"}));
  EXPECT_EQ(redacted({"x", "--redis=redis://user:p@ss@h"}),
            (Args{"x", "--redis=redis://user:***@h"}));
  EXPECT_EQ(redacted({"x", "DATABASE_URL=mysql://root:pw@h/db"}),
            (Args{"x", "DATABASE_URL=mysql://root:***@h/db"}));
  EXPECT_EQ(redacted({"curl", "https://h/api?token=abc&page=2#top"}),
            (Args{"curl", "https://h/api?token=***&page=2#top"}));
  EXPECT_EQ(redacted({"scope", "agent", "--redis", "redis://:pw@a redis://u:pw2@b"}),
            (Args{"scope", "agent", "--redis", "redis://:***@a redis://u:***@b"}));
}

TEST(ExecRedact, SecretVariablesAndParameters) {
  for (const char* name :
       {"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "GITHUB_TOKEN", "HF_TOKEN",
        "OPENAI_API_KEY", "API_KEY", "MYSQL_PWD", "DB_PASSWD", "CLIENT_SECRET", "password"}) {
    std::string a = std::string(name) + "=x1";
    EXPECT_EQ(redacted({"env", a, "psql"}), (Args{"env", std::string(name) + "=***", "psql"}))
        << name;
  }
  EXPECT_EQ(redacted({"psql", "host=db password=s3 dbname=app"}),
            (Args{"psql", "host=db password=*** dbname=app"}));
  EXPECT_EQ(redacted({"mount", "-o", "username=me,password=pw,uid=0", "//srv/x", "/mnt"}),
            (Args{"mount", "-o", "username=me,password=***,uid=0", "//srv/x", "/mnt"}));
}

TEST(ExecRedact, CurlUser) {
  EXPECT_EQ(redacted({"curl", "-u", "me:pw", "http://h"}),
            (Args{"curl", "-u", "me:***", "http://h"}));
  EXPECT_EQ(redacted({"/usr/bin/curl", "--user=me:pw"}), (Args{"/usr/bin/curl", "--user=me:***"}));
  EXPECT_EQ(redacted({"curl", "-ume:pw"}), (Args{"curl", "-ume:***"}));
  EXPECT_EQ(redacted({"docker", "run", "-u", "1000:1000", "img"}),
            (Args{"docker", "run", "-u", "1000:1000", "img"}));  // only curl's -u
}

TEST(ExecRedact, ShortPasswordFlagsOfKnownPrograms) {
  EXPECT_EQ(redacted({"mysql", "-uroot", "-ps3cret", "db"}),
            (Args{"mysql", "-uroot", "-p***", "db"}));
  EXPECT_EQ(redacted({"/usr/bin/mysqldump", "-u", "root", "-p", "s3cret", "--all-databases"}),
            (Args{"/usr/bin/mysqldump", "-u", "root", "-p", "***", "--all-databases"}));
  EXPECT_EQ(redacted({"mariadb-dump", "-px"}), (Args{"mariadb-dump", "-p***"}));
  EXPECT_EQ(redacted({"mysql", "-p", "-h", "db"}), (Args{"mysql", "-p", "-h", "db"}));  // prompts
  EXPECT_EQ(redacted({"sshpass", "-p", "pw", "ssh", "host"}),
            (Args{"sshpass", "-p", "***", "ssh", "host"}));
  EXPECT_EQ(redacted({"redis-cli", "-a", "pw", "ping"}), (Args{"redis-cli", "-a", "***", "ping"}));
  EXPECT_EQ(redacted({"redis-cli", "-apw", "-p", "6379"}),
            (Args{"redis-cli", "-a***", "-p", "6379"}));
  // A program inside a shell command, up to the end of that command.
  EXPECT_EQ(redacted({"sh", "-c", "mysql -pX db < dump.sql; psql -p 5432 db"}),
            (Args{"sh", "-c", "mysql -p*** db < dump.sql; psql -p 5432 db"}));
  EXPECT_EQ(redacted({"bash", "-lc", "curl -u me:pw http://h && ls -u"}),
            (Args{"bash", "-lc", "curl -u me:*** http://h && ls -u"}));
  // Other programs' -p and -a are theirs.
  for (const Args& argv : {Args{"psql", "-p", "5432", "-a"}, Args{"ssh", "-p", "22", "host"},
                           Args{"cp", "-a", "src", "dst"}, Args{"mkdir", "-p", "/tmp/x"}})
    EXPECT_EQ(redacted(argv), argv);
}

TEST(ExecRedact, AwsAccessKeyIds) {
  EXPECT_EQ(redacted({"aws", "configure", "set", "aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"}),
            (Args{"aws", "configure", "set", "aws_access_key_id", "***"}));
  EXPECT_EQ(redacted({"sh", "-c", "export K=ASIAIOSFODNN7EXAMPLE; run"}),
            (Args{"sh", "-c", "export K=***; run"}));
  // Too short, too long or lower case: not a key id.
  for (const Args& argv :
       {Args{"echo", "AKIAIOSFODNN7EXAMPL"}, Args{"echo", "AKIAIOSFODNN7EXAMPLEX"},
        Args{"echo", "akiaiosfodnn7example"}})
    EXPECT_EQ(redacted(argv), argv);
}

TEST(ExecRedact, OrdinaryArgumentsAreLeftAlone) {
  std::vector<Args> same = {
      {"ls", "-la", "/tmp"},
      {"python3", "train.py", "--lr", "0.1", "--max-tokens", "512", "--tokenizer", "gpt2",
       "--num-tokens=9"},
      {"env", "PWD=/home/x", "TOKENIZERS_PARALLELISM=false", "HOME=/root", "OLDPWD=/"},
      // Where a secret is, not the secret: kept so the command stays useful.
      {"app", "--password-file", "/run/secrets/pw", "--token-path=/x", "PASSWORD_FILE=/etc/pw"},
      // Valueless switches: the next argument is not a secret.
      {"psql", "--no-password", "mydb"},
      {"docker", "login", "--password-stdin", "registry"},
      {"ansible", "--ask-pass", "site.yml"},
      {"app", "--token", "--verbose"},
      {"git", "clone", "https://github.com/a/b", "git@github.com:a/b"},
      {"ssh", "ssh://git@host:22/x"},
      {"curl", "http://host:8080/a@b", "https://user@host/"},
      {"echo", "a:b", "12:30", "Basic", "usage", "key=value", "--key", "/etc/k.pem"},
      {"sh", "-c", "for i in 1 2; do echo $i; done"},
      {"make", "--passes=3", "-j8", "--jobs=2", "--password-file=/etc/pw"},
      {"cat", "/etc/passwd", "/var/lib/secrets/", "./token.txt", "src/auth/token_store.cpp"},
      {"cc", "-Wl,--secret-ok", "-o", "a.out", "x.c"},
      {"env", "NAME=value,other=1", "SECRETS_DIR=/run/s", "TOKEN_TTL=30"},
      {},
  };
  for (const auto& argv : same) {
    size_t n = 7;
    EXPECT_EQ(redacted(argv, &n), argv) << argv.size();
    EXPECT_EQ(n, 0u);
  }
}

TEST(ExecRedact, TheEventRowAndLineCarryOnlyTheRedactedArgv) {
  auto rec = exec_record("/usr/bin/curl", {"curl", "--token", "SECRET123", "http://u:pw@host/x"});
  auto e = decode_exec_record(rec.data(), rec.size(), 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(redact_argv(e->argv), 2u);
  auto j = families::event_json(exec_row(*e));
  EXPECT_EQ(j["argv"], (nlohmann::json{"curl", "--token", "***", "http://u:***@host/x"}));
  std::string line = format_exec_line(*e, 0);
  EXPECT_EQ(line.find("SECRET123"), std::string::npos) << line;
  EXPECT_NE(line.find("http://u:***@host/x"), std::string::npos) << line;
  EXPECT_TRUE(FamilyOptions{}.redact_args);  // on unless --no-redact-args
}

TEST(ExecRedact, ProcessCmdlines) {
  std::string raw("curl\0-H\0Authorization: Bearer abc\0http://h\0", 43);
  EXPECT_EQ(discover::join_cmdline(raw, 4096, true), "curl -H Authorization: Bearer *** http://h");
  EXPECT_EQ(discover::join_cmdline(raw), "curl -H Authorization: Bearer abc http://h");
}

}  // namespace
}  // namespace scope::families
