-- wrk script for `make bench` (bench/run.py): one kind of request per run.
--   wrk ... -s bench/scenario.lua URL -- KIND FOO_IDS BAR_IDS TOKEN [STOP_AFTER]
-- KIND: ceiling, get_foo, list_foo, create_foo, get_bar, list_bar, create_bar, or
-- mixed (the six in turn; each thread stops after STOP_AFTER responses).
-- Ids are read from files (one per line) written when the data was seeded.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("number", thread_count)
end

local function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if #line > 0 then
      lines[#lines + 1] = line
    end
  end
  return lines
end

local function random_item(list)
  return list[math.random(#list)]
end

local requests = {
  ceiling = { "GET", "/" },
  get_foo = { "GET", "/v1/foo/" },
  list_foo = { "GET", "/v1/foo/?limit=20" },
  create_foo = { "POST", "/v1/foo/", '{"name":"bench foo"}' },
  get_bar = { "GET", "/v1/bar/" },
  list_bar = { "GET", "/v1/bar/?limit=20" },
  create_bar = { "POST", "/v1/bar/", '{"name":"bench bar"}' },
}
local order = { "get_foo", "list_foo", "create_foo", "get_bar", "list_bar", "create_bar" }

function init(args)
  local kind = args[1]
  local ids = { get_foo = read_lines(args[2]), get_bar = read_lines(args[3]) }
  local token = args[4]
  math.randomseed(os.time() * 100 + (number or 0))

  local function format(name)
    local method, path, body = unpack(requests[name])
    if ids[name] then
      path = path .. random_item(ids[name])
    end
    -- Every server closes the connection after each response: uWSGI's
    -- http-socket always does, and uvicorn (the FastAPI reference) is asked to,
    -- so each request costs every server one connection, as behind nginx.
    local headers = { Connection = "close" }
    if body then
      headers["Content-Type"] = "application/json"
      headers["Authorization"] = "Bearer " .. token
    end
    return wrk.format(method, path, headers, body)
  end

  if kind == "mixed" then
    local turn = 0
    local stop_after = tonumber(args[5])
    local answered = 0
    request = function()
      turn = turn % #order + 1
      return format(order[turn])
    end
    response = function()
      answered = answered + 1
      if answered >= stop_after then
        wrk.thread:stop()
      end
    end
  elseif ids[kind] then
    request = function()
      return format(kind)
    end
  else
    -- Static: wrk formats these bytes once and sends them every time.
    local fixed = format(kind)
    request = function()
      return fixed
    end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean
  ))
end
