// /api/v1/auth/* (register, login, refresh, logout, me, invites, keys/rotate), /api/v1/users and
// /api/v1/audit on a router.
#pragma once

#include "auth/accounts.h"
#include "http/router.h"

namespace scope::auth {

void add_auth_routes(http::Router& router, Accounts& accounts);

nlohmann::json user_json(const User& u);

// The API's answer to a refused action: its status and typed error (Retry-After when throttled).
http::Response error_response(const ApiError& e);
// 204 for an action that answers nothing, or its error.
http::Response no_content_or_error(const ApiResult<bool>& r);

}  // namespace scope::auth
