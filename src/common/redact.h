// Credentials in command lines, replaced by "***" before an exec event's argv
// (or a process's cmdline) is printed, stored or shipped: people put tokens in
// argv (`curl -H 'Authorization: Bearer ...'`, `redis-cli -u
// redis://:pass@host`, `PGPASSWORD=... psql`), and /proc shows them to scope.
//
// The arguments are read as one stream of words (an argument with spaces, as
// in `sh -c '...'` or a `-H` header, is several), and in each word:
//   - the value after a credential flag: `--password X`, `--token X`,
//     `--api-key X`, `--client-secret X` ... (`--flag=X` too), case and `-`/`_`
//     insensitive; a flag is one whose name ends in password, passwd, pass,
//     token, secret, passphrase, credential(s), api key, access/secret/private
//     key (so `--db-password`, `-pass`, `--github-token`, `--max-tokens` not);
//   - NAME=value, `?name=value&...`, `a=b,name=value` with NAME as above
//     (`PGPASSWORD=x`, `AWS_SECRET_ACCESS_KEY=x`, `MYSQL_PWD=x`, libpq's
//     `password=x`);
//   - the credentials of an Authorization (or Proxy-Authorization, X-Api-Key,
//     ...) header, after its scheme (`Authorization: Bearer X`,
//     `Authorization:Basic X`), and the word after `Bearer` anywhere;
//   - the password of a URL's userinfo: `scheme://user:***@host`,
//     `redis://:***@host`;
//   - the single-letter password flags of the programs known to take one:
//     curl's `-u user:***` / `--user user:***`, the MySQL and MariaDB clients'
//     `-p***` / `-p ***`, sshpass's `-p ***`, redis-cli's `-a ***`; a program
//     is known by a word naming it (argv[0], or a command in `sh -c "..."` up to
//     its `;`, `&&`, `|`);
//   - AWS access key ids (`AKIA` or `ASIA` and 16 more), wherever they are.
// Left alone, on purpose: values that name where a secret is
// (`--password-file /path`, `--token-path`, `PASSWORD_FILE=`), valueless flags
// (`--no-password`, `--password-stdin`, `--ask-pass`), a URL user without a
// password (`https://TOKEN@host`), other programs' single-letter flags
// (`docker run -u 1000:1000`, `psql -p 5432`), JSON bodies and cookies.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace scope {

inline constexpr const char* kRedacted = "***";

// Redacts `argv` in place; the number of secrets replaced. Allocates only for an argument it
// changes; linear in the arguments' length.
size_t redact_argv(std::vector<std::string>& argv);

}  // namespace scope
