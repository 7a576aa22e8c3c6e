-- wrk script: a different bearer token on each request, cycling through the file named
-- by $TOKENS_FILE (one token per line), on the path of wrk's URL. Each thread starts at
-- its own offset so threads do not send the same token at the same time.
local tokens = {}
local i = 0

function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    tokens[#tokens + 1] = line
  end
  i = math.random(#tokens)
end

function request()
  i = (i % #tokens) + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
