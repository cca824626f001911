// The exec family's decoding, quoting, formatting and totals, from crafted
// ring records (no privileges).
#include "families/exec_family.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/text.h"
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

}  // namespace
}  // namespace scope::families
