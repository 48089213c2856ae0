-- Checks a JSON request body and the query string against the protos before the transcoder
-- parses them (Envoy's Lua filter). The transcoder silently drops a field it does not know
-- (envoyproxy/envoy#46623), takes null, or "5" for a number, lets the last of two equal keys win,
-- and refuses a number out of its type's range in protobuf's words (TYPE_INT32): a misspelt
-- "phnoe" or a "request_id" in the wrong place would be lost without a word. Here every key must
-- name a field of the message it is in (by its proto name or its JSON name), once; every value
-- must have the field's JSON type, a whole number must be one within its type's range, an enum
-- one of its names, a timestamp an RFC 3339 time within 0001..9999. Anything else is 400 naming
-- the field (UNKNOWN_FIELD, DUPLICATE_FIELD, INVALID_FIELD, TIMESTAMP_OUT_OF_RANGE). The query
-- string is held to the same, parameter by parameter. Timestamps in RFC 3339's lower-case form
-- ("t", "z"), which the transcoder refuses, are upper-cased, in the body and in the query string.
--
-- It reads the messages, enums and routes that protos/generate.py derives from the descriptor set
-- (MESSAGES, ENUMS, ROUTES, QUERIES in gateway/recordstore.pb.lua, which Envoy loads first). A body that is not one JSON object is 400 INVALID_JSON with the byte where it stops being
-- one (never the body itself): a byte order mark, a comment, text after the object, another root
-- (true, [], null), a body of only whitespace, nesting deeper than MAX_DEPTH. A string that is not
-- UTF-8 (latin-1, UTF-16) or escapes half a surrogate pair ("\ud800") is 400 INVALID_UTF8 naming
-- the field it is in. GET, HEAD and DELETE take no body: one sent is 400 BODY_NOT_ALLOWED (the
-- transcoder would read it into the request unchecked). A POST body of any framing (chunked
-- too) must be JSON in UTF-8, not compressed: else 415, as the routes answer when they can tell
-- from the headers alone.

local MAX_DEPTH = 32  -- the deepest valid request is 3 objects deep

local MAX_SHOWN = 40

local function quote(text, limit)
  if limit and #text > limit then text = text:sub(1, limit) .. "..." end
  -- Quotes and backslashes escaped; a control character shown as its escape (\u0000: the
  -- reader sees the six characters, not a NUL that would cut the text short in C strings);
  -- bytes beyond ASCII shown as "?", so that the answer is valid JSON whatever the client sent.
  -- (%z is listed: NUL is no %c in Envoy's LuaJIT.)
  local escaped = text:gsub('[%z%c"\\]', function(c)
    return string.format(c:find('["\\]') and "\\u%04x" or "\\\\u%04x", c:byte())
  end)
  return '"' .. escaped:gsub("[\128-\255]", "?") .. '"'
end

local function error_body(field, description, reason)
  if field == "" then  -- the body as a whole
    return string.format(
      '{"code":3,"message":%s,"details":[' ..
      '{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"%s","domain":"recordstore","metadata":{}}]}',
      quote(description), reason)
  end
  local shown = #field > MAX_SHOWN and field:sub(1, MAX_SHOWN) .. "..." or field
  return string.format(
    '{"code":3,"message":%s,"details":[' ..
    '{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"%s","domain":"recordstore","metadata":{}},' ..
    '{"@type":"type.googleapis.com/google.rpc.BadRequest","field_violations":[{"field":%s,"description":%s}]}]}',
    quote(shown .. ": " .. description), reason, quote(field, MAX_SHOWN * 4), quote(description))
end

-- A small JSON reader: enough to walk the document and know each value's type. It raises
-- "malformed" where the text stops being JSON.
local Reader = {}
Reader.__index = Reader

local function fail() error("malformed", 0) end

-- One UTF-8 sequence (RFC 3629: shortest form, no surrogates, at most U+10FFFF) at each
-- non-ASCII byte of text[from..to]; false at the first byte that is not.
local function utf8_valid(text, from, to)
  local at = text:find("[\128-\255]", from)
  while at and at <= to do
    local c = text:byte(at)
    local size, low, high = 0, 128, 191
    if c >= 194 and c <= 223 then size = 1
    elseif c == 224 then size, low = 2, 160
    elseif c == 237 then size, high = 2, 159
    elseif c >= 225 and c <= 239 then size = 2
    elseif c == 240 then size, low = 3, 144
    elseif c >= 241 and c <= 243 then size = 3
    elseif c == 244 then size, high = 3, 143
    else return false end
    if at + size > to then return false end
    for i = 1, size do
      local b = text:byte(at + i)
      if b < (i == 1 and low or 128) or b > (i == 1 and high or 191) then return false end
    end
    at = text:find("[\128-\255]", at + size + 1)
  end
  return true
end

function Reader:space()
  self.at = self.text:find("[^ \t\r\n]", self.at) or #self.text + 1
end

function Reader:peek()
  self:space()
  return self.text:sub(self.at, self.at)
end

function Reader:string()
  -- at the opening quote; returns the decoded text (escapes matter for keys), its span
  local text, at, parts = self.text, self.at + 1, {}
  local start = self.at
  while true do
    local stop = text:find('["\\%z\001-\031]', at)
    if not stop then fail() end
    if text:byte(stop) < 32 then fail() end  -- a control character must be escaped
    if not utf8_valid(text, at, stop - 1) then error("utf8", 0) end
    parts[#parts + 1] = text:sub(at, stop - 1)
    if text:sub(stop, stop) == '"' then
      self.at = stop + 1
      return table.concat(parts), start, stop
    end
    local escape = text:sub(stop + 1, stop + 1)
    if escape == "u" then
      local hex = text:sub(stop + 2, stop + 5)
      local code = hex:find("^%x%x%x%x$") and tonumber(hex, 16)
      if not code then fail() end
      -- Half a surrogate pair is no character: the services could not store it as UTF-8.
      if code >= 0xDC00 and code <= 0xDFFF then error("utf8", 0) end
      if code >= 0xD800 and code <= 0xDBFF then
        local low = text:match("^\\u(%x%x%x%x)", stop + 6)
        low = low and tonumber(low, 16)
        if not low or low < 0xDC00 or low > 0xDFFF then error("utf8", 0) end
        at = stop + 12
      else
        at = stop + 6
      end
      if code < 128 then parts[#parts + 1] = string.char(code) else parts[#parts + 1] = "\127" end
    else
      local simple = ({['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"})[escape]
      if not simple then fail() end
      parts[#parts + 1] = simple
      at = stop + 2
    end
  end
end

-- Reads one value; returns its JSON type ("object", "array", "string", "number", "boolean",
-- "null") and, for a string, its decoded text and span. Objects and arrays are read by `object`
-- and `array`, which check their members against the schema.
function Reader:scalar()
  local c = self:peek()
  if c == '"' then
    local value, start, stop = self:string()
    return "string", value, start, stop
  end
  -- JSON's number grammar exactly (no leading zero, digits after a point and in an exponent):
  -- the transcoder reads "1." or "01" its own way, or refuses them in its own words.
  local int = self.text:match("^%-?%d+", self.at)
  if int then
    if int:find("^%-?0%d") then fail() end
    local at = self.at + #int
    local fraction = self.text:match("^%.%d*", at) or ""
    if fraction == "." then fail() end
    at = at + #fraction
    local exponent = self.text:match("^[eE][-+]?%d*", at) or ""
    if exponent ~= "" and not exponent:find("%d$") then fail() end
    local literal = self.text:sub(self.at, at + #exponent - 1)
    self.at = at + #exponent
    return "number", literal
  end
  for word, kind in pairs({["true"] = "boolean", ["false"] = "boolean", ["null"] = "null"}) do
    if self.text:sub(self.at, self.at + #word - 1) == word then
      self.at = self.at + #word
      return kind
    end
  end
  fail()
end

function Reader:nest(change)
  self.depth = self.depth + change
  if self.depth > MAX_DEPTH then error("deep", 0) end
end

function Reader:skip()
  local c = self:peek()
  if c == "{" or c == "[" then
    self:nest(1)
    local open, close = c, (c == "{" and "}" or "]")
    self.at = self.at + 1
    if self:peek() == close then self.at = self.at + 1 return end
    while true do
      if open == "{" then
        if self:peek() ~= '"' then fail() end
        self:string()
        if self:peek() ~= ":" then fail() end
        self.at = self.at + 1
      end
      self:skip()
      local after = self:peek()
      self.at = self.at + 1
      if after == close then self:nest(-1) return end
      if after ~= "," then fail() end
    end
  end
  self:scalar()
end

-- The JSON types each kind of field takes (proto3 JSON, as the transcoder reads it, less null).
local ACCEPTS = {
  string = {{string = true}, "a string"}, bytes = {{string = true}, "a base64 string"},
  bool = {{boolean = true}, "true or false"},
  int32 = {{number = true}, "a number"}, int64 = {{number = true, string = true}, "a number or a string of digits"},
  double = {{number = true, string = true}, "a number"}, enum = {{string = true, number = true}, "one of its names"},
  timestamp = {{string = true}, "an RFC 3339 timestamp"},
}

-- Whole numbers, bounded by their proto type. Lua's numbers are doubles, exact only up to 2^53,
-- so the bounds are compared as digits. A number with a fraction or an exponent (1e3: a whole
-- number, which proto3 JSON takes) reaches the services through a double: beyond 2^53 it would
-- be rounded, so such an int64 must be written as digits.
local WHOLE = {
  int32 = {min = "2147483648", max = "2147483647", words = "between -2147483648 and 2147483647"},
  int64 = {min = "9223372036854775808", max = "9223372036854775807",
           words = "between -9223372036854775808 and 9223372036854775807"},
}
local EXACT_IN_A_DOUBLE = "9007199254740992"

local function at_most(digits, limit)  -- whole numbers as digits, no leading zeros
  if #digits ~= #limit then return #digits < #limit end
  return digits <= limit
end

-- The magnitude of a JSON number as digits (no leading zeros) and whether it is negative; nil
-- when it is not whole, false for the digits when it has more than 20.
local function whole_digits(literal)
  local sign, int = literal:match("^(%-?)(%d+)")
  local fraction = literal:match("^%.(%d+)", #sign + #int + 1) or ""
  local shift = tonumber(literal:match("[eE]%+?(%-?%d+)$") or "0") - #fraction
  local digits = (int .. fraction):gsub("^0+", "")
  if digits == "" then return sign == "-", "0" end
  if shift < 0 then
    local kept = #digits + shift
    if kept <= 0 or digits:find("[1-9]", kept + 1) then return nil end
    digits = digits:sub(1, kept)
  elseif shift > 0 then
    if #digits + shift > 20 then return sign == "-", false end
    digits = digits .. string.rep("0", shift)
  end
  return sign == "-", digits
end

-- nil when `text` (a JSON number's literal, or a string when `quoted`) is a whole number of
-- `kind`; else what is wrong, in words. In a body (`canonical`) a string of digits is written as
-- the API writes it and the OpenAPI document's pattern says: no sign but "-", no leading zero,
-- no "-0" ("+1", "01" are refused); a query string's value may have leading zeros.
local function whole_problem(kind, text, quoted, canonical)
  local bounds, negative, digits = WHOLE[kind], nil, nil
  local shown = quoted and quote(text, MAX_SHOWN) or text:sub(1, MAX_SHOWN)
  local words = "must be a whole number " .. bounds.words .. ", got " .. shown
  if quoted then
    local sign, given = text:match("^([-+]?)(%d+)$")
    if not given then return words end
    if canonical and (sign == "+" or given:find("^0.") or text == "-0") then
      return "must be a whole number written as digits, without a sign other than - nor a leading zero, got " .. shown
    end
    negative, digits = sign == "-", given:gsub("^0+", "")
    if digits == "" then digits = "0" end
  else
    negative, digits = whole_digits(text)
    if negative == nil or not digits then return words end
  end
  if not at_most(digits, negative and bounds.min or bounds.max) then return words end
  if kind == "int64" and not quoted and text:find("[.eE]") and not at_most(digits, EXACT_IN_A_DOUBLE) then
    -- Within range, but such a number reaches the service through a double, which rounds it.
    return "must be written as digits (a string such as \"" .. (negative and "-" or "") .. digits ..
           "\") when beyond 2^53 (9007199254740992): with a fraction or an exponent it would be rounded, got " .. shown
  end
end

local ENUM_SETS = {}
for name, values in pairs(ENUMS) do
  ENUM_SETS[name] = {}
  for _, value in ipairs(values) do ENUM_SETS[name][value] = true end
end

local DAYS = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
local RFC3339 = "must be an RFC 3339 timestamp such as 2026-01-31T23:59:59Z"
-- google.protobuf.Timestamp's range, as the services say it (services/runtime/timestamps.py).
local TIME_RANGE = "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z"
local MIN_SECONDS, MAX_SECONDS = -62135596800, 253402300799

local function days_from_civil(y, m, d)  -- days since 1970-01-01, proleptic Gregorian
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  return era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
end

-- nil when `text` is an RFC 3339 timestamp the services take, else (what is wrong, reason): a
-- date that does not exist (2026-02-30) is no timestamp; one beyond Timestamp's range (year 0,
-- 10000) is TIMESTAMP_OUT_OF_RANGE, as over gRPC.
local function timestamp_problem(text)
  local got = ", got " .. quote(text, MAX_SHOWN)
  local y, mo, d, h, mi, s, rest = text:match("^(%d%d%d%d+)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return RFC3339 .. got, "INVALID_FIELD" end
  local fraction, zone = rest:match("^%.(%d+)(.*)$")
  if not fraction then zone = rest end
  if fraction and #fraction > 9 then return RFC3339 .. ", at most 9 digits after the second's point" .. got, "INVALID_FIELD" end
  local offset = 0
  if zone ~= "Z" and zone ~= "z" then
    local sign, oh, om = zone:match("^([-+])(%d%d):(%d%d)$")
    if not sign or tonumber(oh) > 23 or tonumber(om) > 59 then
      return RFC3339 .. ", ending in Z or an offset such as -03:00" .. got, "INVALID_FIELD"
    end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "-" and -1 or 1)
  end
  local year = tonumber(y)
  if year > 9999 then return TIME_RANGE .. got, "TIMESTAMP_OUT_OF_RANGE" end
  if #y > 4 then return RFC3339 .. got, "INVALID_FIELD" end
  local month, day, hour, minute, second = tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if month < 1 or month > 12 then return RFC3339 .. ": there is no month " .. mo .. got, "INVALID_FIELD" end
  local leap = month == 2 and (year % 4 == 0 and year % 100 ~= 0 or year % 400 == 0)
  if day < 1 or day > DAYS[month] + (leap and 1 or 0) then
    return RFC3339 .. ": " .. y .. "-" .. mo .. " has no day " .. d .. got, "INVALID_FIELD"
  end
  -- RFC 3339 allows a leap second (60), and so does the transcoder.
  if hour > 23 or minute > 59 or second > 60 then return RFC3339 .. got, "INVALID_FIELD" end
  local seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
  if seconds < MIN_SECONDS or seconds > MAX_SECONDS then return TIME_RANGE .. got, "TIMESTAMP_OUT_OF_RANGE" end
end

function Reader:value(spec, path, times)
  local kind, repeated, message = spec[1], spec[2], spec[3]
  if repeated then
    if self:peek() ~= "[" then return path, "must be an array" end
    self.at = self.at + 1
    self:nest(1)
    if self:peek() == "]" then self.at = self.at + 1 self:nest(-1) return end
    local index = 0
    while true do
      local field, problem, reason = self:value({kind, false, message, spec[4]}, path .. "[" .. index .. "]", times)
      if field then return field, problem, reason end
      index = index + 1
      local after = self:peek()
      self.at = self.at + 1
      if after == "]" then self:nest(-1) return end
      if after ~= "," then fail() end
    end
  end
  if kind == "message" then
    if self:peek() ~= "{" then return path, "must be an object" end
    return self:object(message, path, times)
  end
  local accepts = ACCEPTS[kind]
  self.where = path
  if self:peek() == "{" or self:peek() == "[" then
    self:skip()
    return path, "must be " .. accepts[2]
  end
  local json_type, text, start, stop = self:scalar()
  if not accepts[1][json_type] then
    return path, "must be " .. accepts[2] .. ", not " .. json_type
  end
  if kind == "enum" and json_type == "string" then
    if not ENUM_SETS[message][text] then
      return path, "must be one of " .. table.concat(ENUMS[message], ", ") .. ", got " .. quote(text, MAX_SHOWN)
    end
  elseif WHOLE[kind] or kind == "enum" then  -- an enum may be given by its number
    local problem = whole_problem(kind == "enum" and "int32" or kind, text, json_type == "string", true)
    if problem then return path, problem end
  elseif kind == "timestamp" then
    local problem, reason = timestamp_problem(text)
    if problem then return path, problem, reason end
    if text:find("[tz]") and not self.text:sub(start, stop):find("\\", 1, true) then
      times[#times + 1] = {start, stop}
    end
  end
end

-- `in_path`: the fields the URL's path binds, which a body bound as a whole must not give again.
function Reader:object(name, prefix, times, in_path)
  local fields, seen = MESSAGES[name], {}
  self.at = self.at + 1
  self:nest(1)
  if self:peek() == "}" then self.at = self.at + 1 self:nest(-1) return end
  while true do
    if self:peek() ~= '"' then fail() end
    self.where = prefix  -- a key that is not UTF-8 is in the object at `prefix`
    local key = self:string()
    if self:peek() ~= ":" then fail() end
    self.at = self.at + 1
    local path = prefix == "" and key or prefix .. "." .. key
    local spec = fields[key]
    if not spec then
      return path, "is not a field of this request", "UNKNOWN_FIELD"
    end
    -- Two equal keys (or a field's proto and JSON names): the transcoder would keep the last.
    local first = seen[spec[4]]
    if first then
      return path, first == key and "is given more than once" or "is given more than once (as " .. first .. " too)",
             "DUPLICATE_FIELD"
    end
    seen[spec[4]] = key
    if in_path and in_path[spec[4]] then
      return path, "is given in the path already", "DUPLICATE_FIELD"
    end
    local field, problem, reason = self:value(spec, path, times)
    if field then return field, problem, reason end
    local after = self:peek()
    self.at = self.at + 1
    if after == "}" then self:nest(-1) return end
    if after ~= "," then fail() end
  end
end

-- Returns (field, description, reason) of the first problem ("" for the body as a whole), or
-- nil and the spans of timestamps to upper-case.
local function check(text, route, in_path)
  local reader = setmetatable({text = text, at = 1, depth = 0, where = route.prefix}, Reader)
  local times = {}
  local function invalid(words)
    return "", words .. " (at byte " .. math.min(reader.at, #text) .. " of " .. #text .. ")", "INVALID_JSON"
  end
  if text:find("^\239\187\191") then return invalid("the body must be JSON without a byte order mark") end
  if reader:peek() ~= "{" then return invalid("the body must be one JSON object") end
  local ok, field, problem, reason = pcall(reader.object, reader, route.body, route.prefix, times,
                                           route.prefix == "" and in_path or nil)
  if not ok then
    if field == "utf8" then
      return reader.where, "must be text in UTF-8 (a byte that is not, or an escaped half of a surrogate pair)",
             "INVALID_UTF8"
    end
    if field == "deep" then return invalid("the body is nested deeper than " .. MAX_DEPTH .. " levels") end
    if field ~= "malformed" then error(field, 0) end
    return invalid("the body is not valid JSON")
  end
  if field then return field, problem, reason or "INVALID_FIELD" end
  -- The transcoder would parse what follows the object its own way, or echo it in its answer.
  if reader:peek() ~= "" then return invalid("the body must be one JSON object, with nothing after it") end
  return nil, times
end

local function upper_spans(text, spans)
  local parts, at = {}, 1
  for _, span in ipairs(spans) do
    parts[#parts + 1] = text:sub(at, span[1] - 1)
    parts[#parts + 1] = text:sub(span[1], span[2]):upper()
    at = span[2] + 1
  end
  parts[#parts + 1] = text:sub(at)
  return table.concat(parts)
end

local function route_of(method, path)
  for _, route in ipairs(ROUTES) do
    if route.method == method and path:find(route.pattern) then return route end
  end
end

local function unescape(text)
  return (text:gsub("+", " "):gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

-- The query string, in the API's words where the transcoder's would name protobuf types
-- ("invalid value \"\" for type TYPE_INT32", "Could not find field ... in the type ..."): each
-- parameter must be one of the request's (by its proto or JSON name), given once unless the
-- field is repeated; a whole number must be one within its type's range, a flag true or false,
-- a timestamp an RFC 3339 time within Timestamp's range. A timestamp's lower-case t and z are
-- upper-cased (?start_time=2026-01-01t00:00:00z).
-- Returns (field, description, reason) of the first problem, or nil and the query to send on.
local function check_query(route, query)
  local problem, changed, seen, parts = nil, false, {}, {}
  local rewritten = query:gsub("([^&=]*)=?([^&]*)", function(name, raw)
    if problem or name == "" then return end
    -- A "%" that does not start two hex digits: the transcoder would answer in its own words.
    local malformed = function(text) return text:gsub("%%%x%x", ""):find("%%") end
    if malformed(name) then
      problem = {name, "is not a parameter name: a % must start two hex digits (%2B)", "INVALID_FIELD"}
      return
    end
    local field, value = unescape(name), unescape(raw)
    if malformed(raw) then
      problem = {field, "is not percent-encoded: a % must start two hex digits (%25 for a % itself)", "INVALID_FIELD"}
      return
    end
    local spec = route.fields[field]
    if not spec then
      problem = route.path[field] and {field, "is given in the path already", "DUPLICATE_FIELD"}
                or {field, "is not a parameter of this request", "UNKNOWN_FIELD"}
      return
    end
    local kind, canonical, repeated, whole = spec[1], spec[2], spec[3], spec[4]
    -- start_time and start_time.seconds name the same field, as start_time and startTime do.
    local first = seen[canonical] or (whole and seen[whole]) or (not whole and parts[canonical])
    if first and not repeated then
      problem = {field, first == field and "is given more than once"
                        or "is given more than once (as " .. first .. " too)", "DUPLICATE_FIELD"}
      return
    end
    seen[canonical] = field
    if whole then parts[whole] = field end
    if WHOLE[kind] then
      -- A "+" in a query string is a space: a sign there can only be "-".
      local words = value:find("^%+") and "must be a whole number " .. WHOLE[kind].words .. ", got " ..
                    quote(value, MAX_SHOWN) or whole_problem(kind, value, true)
      if words then problem = {field, words, "INVALID_FIELD"} end
    elseif kind == "bool" and value ~= "true" and value ~= "false" then
      problem = {field, "must be true or false, got " .. quote(value, MAX_SHOWN), "INVALID_FIELD"}
    elseif kind == "timestamp" then
      local words, reason = timestamp_problem(value)
      if words then
        problem = {field, words, reason}
      elseif raw:find("[tz]") then
        changed = true
        return name .. "=" .. raw:upper()
      end
    end
  end)
  if problem then return problem[1], problem[2], problem[3] end
  return nil, changed and rewritten or nil
end

local function query_route_of(method, path)
  for _, route in ipairs(QUERIES) do
    if route.method == method and path:find(route.pattern) then return route end
  end
end

-- A raw gRPC call's messages, as the gateway buffered them (64 KiB at most): each is framed by a
-- flag byte (0, or 1 for a message compressed with the call's grpc-encoding) and a 4-byte length.
-- A message flagged compressed in a call that names no encoding is the client's mistake, which
-- grpc's core would answer INTERNAL: INVALID_ARGUMENT here. Everything else is the services'.
function check_grpc_messages(handle, headers)
  local encoding = (headers:get("grpc-encoding") or "identity"):lower()  -- read before the body
  local body = handle:body()
  if encoding ~= "identity" or not body then return end
  local size, at = body:length(), 0
  while at + 5 <= size do
    local prefix = body:getBytes(at, 5)
    if prefix:byte(1) ~= 0 then
      handle:respond({[":status"] = "400", ["grpc-status"] = "3"},
                     "a message is flagged compressed, but the call names no grpc-encoding")
      return
    end
    at = at + 5 + ((prefix:byte(2) * 256 + prefix:byte(3)) * 256 + prefix:byte(4)) * 256 + prefix:byte(5)
  end
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local full = headers:get(":path") or ""
  local path, query = full:match("^([^?]*)%??(.*)$")
  local method = headers:get(":method")
  local query_route = query_route_of(method, path)
  if query_route and query ~= "" then
    local field, rewritten, reason = check_query(query_route, query)
    if field then
      handle:respond({[":status"] = "400", ["content-type"] = "application/json"},
                     error_body(field, rewritten, reason))
      return
    end
    if rewritten then headers:replace(":path", path .. "?" .. rewritten) end
  end
  if method == "GET" or method == "HEAD" or method == "DELETE" then
    -- handle:body() is nil at once when the request ended with its headers.
    local body = handle:body()
    if body and body:length() > 0 then
      handle:respond({[":status"] = "400", ["content-type"] = "application/json"},
                     error_body("", "a " .. method .. " request takes no body", "BODY_NOT_ALLOWED"))
    end
    return
  end
  if method ~= "POST" then return end
  local content_type = (headers:get("content-type") or ""):lower()
  if content_type:find("^application/grpc") then return check_grpc_messages(handle, headers) end
  -- The headers cannot be read once the body has been waited for.
  local encoding = (headers:get("content-encoding") or "identity"):lower()
  local body = handle:body()
  if not body or body:length() == 0 then return end
  -- The routes refuse what the headers alone show; a chunked body (no Content-Length) only
  -- shows here that there is one. Envoy does not decompress requests, and the services read
  -- UTF-8 only: a compressed body or another charset would be read as something else.
  local charset = content_type:match(";%s*charset%s*=%s*\"?([^;\"%s]*)")
  local unsupported = (not content_type:find("^application/json") and "the body must be JSON (Content-Type: application/json)")
    or (charset and charset ~= "utf-8" and charset ~= "utf8" and "the body must be JSON in UTF-8 (charset=utf-8, or none)")
    or (encoding ~= "identity" and "the body must not be compressed (Content-Encoding: identity, or none)")
  if unsupported then
    -- Plain text: the gateway's 415 mapper puts it in the error shape with its reason.
    handle:respond({[":status"] = "415"}, unsupported)
    return
  end
  local route = route_of(method, path)
  if not route then return end
  local text = body:getBytes(0, body:length())
  local ok, field, problem, reason = pcall(check, text, route, query_route and query_route.path)
  if not ok then return end  -- a fault of this script: the transcoder decides
  if field then
    handle:respond({[":status"] = "400", ["content-type"] = "application/json"},
                   error_body(field, problem, reason))
    return
  end
  if #problem > 0 then body:setBytes(upper_spans(text, problem)) end
end
