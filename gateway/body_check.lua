-- Checks a JSON request body against the protos before the transcoder parses it (Envoy's Lua
-- filter). The transcoder silently drops a field it does not know (envoyproxy/envoy#46623) and
-- takes null, or "5" for a number: a misspelt "phnoe" or a "request_id" in the wrong place would
-- be lost without a word. Here every key must name a field of the message it is in (by its proto
-- name or its JSON name), and every value must have the field's JSON type; anything else is 400
-- naming the field (UNKNOWN_FIELD, INVALID_FIELD). Timestamps in RFC 3339's lower-case form
-- ("t", "z"), which the transcoder refuses, are upper-cased, in the body and in the query string.
--
-- protos/generate.py appends this file to the messages and routes it derives from the descriptor
-- set (MESSAGES, ROUTES, QUERIES), into gateway/recordstore.pb.lua, which Envoy loads.
-- A body that is not JSON is 400 INVALID_JSON with where it stops being JSON; one that is not an
-- object, or has something after the object, is left to the transcoder, which answers it.

local MAX_SHOWN = 40

local function quote(text, limit)
  if limit and #text > limit then text = text:sub(1, limit) .. "..." end
  -- Controls, quotes and backslashes escaped; bytes beyond ASCII shown as "?", so that the
  -- answer is valid JSON whatever the client sent.
  local escaped = text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end)
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
    local stop = text:find('["\\]', at)
    if not stop then fail() end
    parts[#parts + 1] = text:sub(at, stop - 1)
    if text:sub(stop, stop) == '"' then
      self.at = stop + 1
      return table.concat(parts), start, stop
    end
    local escape = text:sub(stop + 1, stop + 1)
    if escape == "u" then
      local code = tonumber(text:sub(stop + 2, stop + 5), 16)
      if not code then fail() end
      if code < 128 then parts[#parts + 1] = string.char(code) else parts[#parts + 1] = "\127" end
      at = stop + 6
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
  local literal = self.text:match("^%-?%d+%.?%d*[eE]?[-+]?%d*", self.at)
  if literal and #literal > 0 then
    self.at = self.at + #literal
    return "number"
  end
  for word, kind in pairs({["true"] = "boolean", ["false"] = "boolean", ["null"] = "null"}) do
    if self.text:sub(self.at, self.at + #word - 1) == word then
      self.at = self.at + #word
      return kind
    end
  end
  fail()
end

function Reader:skip()
  local c = self:peek()
  if c == "{" or c == "[" then
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
      if after == close then return end
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

function Reader:value(spec, path, times)
  local kind, repeated, message = spec[1], spec[2], spec[3]
  if repeated then
    if self:peek() ~= "[" then return path, "must be an array" end
    self.at = self.at + 1
    if self:peek() == "]" then self.at = self.at + 1 return end
    local index = 0
    while true do
      local field, problem, reason = self:value({kind, false, message}, path .. "[" .. index .. "]", times)
      if field then return field, problem, reason end
      index = index + 1
      local after = self:peek()
      self.at = self.at + 1
      if after == "]" then return end
      if after ~= "," then fail() end
    end
  end
  if kind == "message" then
    if self:peek() ~= "{" then return path, "must be an object" end
    return self:object(message, path, times)
  end
  local accepts = ACCEPTS[kind]
  if self:peek() == "{" or self:peek() == "[" then
    self:skip()
    return path, "must be " .. accepts[2]
  end
  local json_type, text, start, stop = self:scalar()
  if not accepts[1][json_type] then
    return path, "must be " .. accepts[2] .. ", not " .. json_type
  end
  if kind == "timestamp" and text:find("[tz]") and not self.text:sub(start, stop):find("\\", 1, true) then
    times[#times + 1] = {start, stop}
  end
end

function Reader:object(name, prefix, times)
  local fields = MESSAGES[name]
  self.at = self.at + 1
  if self:peek() == "}" then self.at = self.at + 1 return end
  while true do
    if self:peek() ~= '"' then fail() end
    local key = self:string()
    if self:peek() ~= ":" then fail() end
    self.at = self.at + 1
    local path = prefix == "" and key or prefix .. "." .. key
    local spec = fields[key]
    if not spec then
      return path, "is not a field of this request", "UNKNOWN_FIELD"
    end
    local field, problem, reason = self:value(spec, path, times)
    if field then return field, problem, reason end
    local after = self:peek()
    self.at = self.at + 1
    if after == "}" then return end
    if after ~= "," then fail() end
  end
end

-- Returns (field, description, reason) of the first problem ("" for the body as a whole), or
-- nil and the spans of timestamps to upper-case.
local function check(text, route)
  local reader = setmetatable({text = text, at = 1}, Reader)
  local times = {}
  if reader:peek() ~= "{" then return nil, times end  -- not an object: the transcoder answers
  local ok, field, problem, reason = pcall(reader.object, reader, route.body, route.prefix, times)
  if not ok then
    if field ~= "malformed" then error(field, 0) end
    return "", "the body is not valid JSON (at byte " .. math.min(reader.at, #text) .. " of " .. #text .. ")",
           "INVALID_JSON"
  end
  if field then return field, problem, reason or "INVALID_FIELD" end
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

local WHOLE = {int32 = {-2147483648, 2147483647}, int64 = {-9223372036854775808, 9223372036854775807}}

-- The query string, in the API's words where the transcoder's would name protobuf types
-- ("invalid value \"\" for type TYPE_INT32"): a whole number must be one, a flag true or false.
-- A timestamp's lower-case t and z are upper-cased (?start_time=2026-01-01t00:00:00z).
-- Returns (field, description) of the first problem, or nil and the query to send on.
local function check_query(route, query)
  local problem, changed = nil, false
  local rewritten = query:gsub("([^&=]*)=?([^&]*)", function(name, raw)
    if problem or name == "" then return end
    local field, value = unescape(name), unescape(raw)
    local kind = route.fields[field]
    if WHOLE[kind] then
      local number = value:match("^%-?%d+$") and #value <= 20 and tonumber(value)
      if not number or number < WHOLE[kind][1] or number > WHOLE[kind][2] then
        problem = {field, "must be a whole number" .. (kind == "int32" and " of 32 bits" or "") .. ", got " .. quote(value, MAX_SHOWN)}
      end
    elseif kind == "bool" and value ~= "true" and value ~= "false" then
      problem = {field, "must be true or false, got " .. quote(value, MAX_SHOWN)}
    elseif kind == "timestamp" and raw:find("[tz]") then
      changed = true
      return name .. "=" .. raw:upper()
    end
  end)
  if problem then return problem[1], problem[2] end
  return nil, changed and rewritten or nil
end

local function query_route_of(method, path)
  for _, route in ipairs(QUERIES) do
    if route.method == method and path:find(route.pattern) then return route end
  end
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local full = headers:get(":path") or ""
  local path, query = full:match("^([^?]*)%??(.*)$")
  local method = headers:get(":method")
  local query_route = query ~= "" and query_route_of(method, path)
  if query_route then
    local field, rewritten = check_query(query_route, query)
    if field then
      handle:respond({[":status"] = "400", ["content-type"] = "application/json"},
                     error_body(field, rewritten, "INVALID_FIELD"))
      return
    end
    if rewritten then headers:replace(":path", path .. "?" .. rewritten) end
  end
  local content_type = headers:get("content-type") or ""
  if method ~= "POST" or not content_type:lower():find("^application/json") then return end
  local route = route_of(method, path)
  if not route then return end
  local body = handle:body()
  if not body or body:length() == 0 then return end
  local text = body:getBytes(0, body:length())
  local ok, field, problem, reason = pcall(check, text, route)
  if not ok then return end  -- a fault of this script: the transcoder decides
  if field then
    handle:respond({[":status"] = "400", ["content-type"] = "application/json"},
                   error_body(field, problem, reason))
    return
  end
  if #problem > 0 then body:setBytes(upper_spans(text, problem)) end
end
