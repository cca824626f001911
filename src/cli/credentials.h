#pragma once
// Secrets from systemd's credentials (a unit's LoadCredential=NAME:PATH): the file NAME in
// $CREDENTIALS_DIRECTORY, readable by the service alone and in neither its argv nor its
// environment. deploy/systemd's units pass the Redis and PostgreSQL URLs and the enrollment token
// this way.

#include <string>
#include <string_view>

#include "common/result.h"

namespace scope::cli {

// The credential NAME without its trailing whitespace; empty when $CREDENTIALS_DIRECTORY is unset
// or holds no NAME. An error when it is there but unreadable, empty or over 64 KiB.
Result<std::string> systemd_credential(std::string_view name);

// `value` as given (flag or environment), else the credential NAME; an error naming the flag,
// its variable and the credential when `required` and there is none.
Status flag_or_credential(std::string& value, std::string_view flag, std::string_view env,
                          std::string_view name, bool required);

}  // namespace scope::cli
