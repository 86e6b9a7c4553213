// Longer than 400 lines: a benchmark meant to be read and built alone, with no Kiwi code, so
// that what it measures is plain to see.
// The floor for bench/webhook_ingest: the least work any receiver must do per signed GitHub
// push before it may answer 202, with nothing else. One thread, epoll, no framework:
//   - read the HTTP/1.1 request (keep-alive; Content-Length bodies only),
//   - check X-Hub-Signature-256 (HMAC-SHA256 of the raw body, constant-time compare),
//   - parse and validate the whole JSON body (simdjson, as kiwid does) and take ref, after,
//     before, pusher and the head commit's message; only pushes to the configured branch count,
//   - store the job with one Lua script per push: the delivery id remembered for 7 days (a
//     repeat is a duplicate), a build record, the queue entry, the build.queued event appended
//     to the build's own stream and PUBLISHed on both channels,
//   - answer 202 {"build_id","status"} once Redis has replied.
// Redis is pipelined and never waited for: the scripts of every request that became complete in
// one epoll round go out in one write, and answers are sent as Redis' replies come in, while
// other requests are read and checked. kiwid does more
// per push (build numbers, the service's history index, fairness bookkeeping, the all-builds
// event stream, metrics, a log line per build); this program shows what is left without them.
//
//   ingest_floor <redis-port> <webhook-secret> <branch>
// Prints "port <n>" (an ephemeral loopback port) on stdout once it listens; SIGTERM stops it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <simdjson.h>

namespace {

constexpr const char* kScript = R"lua(
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', 604800) then return 0 end
redis.call('HSET', KEYS[2], 'status', 'queued', 'service', ARGV[2], 'ref', ARGV[3], 'sha', ARGV[4],
           'before', ARGV[5], 'pusher', ARGV[6], 'commit_message', ARGV[7], 'queued_at', ARGV[8])
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('XADD', KEYS[2] .. ':events', '*', 'event', ARGV[9])
redis.call('PUBLISH', 'kiwi:events', ARGV[9])
redis.call('PUBLISH', 'kiwi:events:' .. ARGV[2], ARGV[9])
return 1
)lua";

volatile std::sig_atomic_t stop = 0;

struct connection {
  int fd = -1;
  std::string in;
  std::string out;
  bool closed = false;
};

struct job {
  std::shared_ptr<connection> conn;
  std::string build_id;
  std::vector<std::string> args;
};

std::string_view header(std::string_view head, std::string_view name) {
  std::size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    std::size_t end = head.find("\r\n", at + 2);
    std::string_view line = head.substr(at + 2, end == std::string_view::npos ? std::string_view::npos
                                                                              : end - at - 2);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.data(), name.data(), name.size()) == 0) {
      std::string_view v = line.substr(name.size() + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      return v;
    }
    at = end;
  }
  return {};
}

void respond(connection& c, int status, std::string_view body) {
  const char* reason = status == 202 ? "Accepted" : status == 200 ? "OK" : "Bad Request";
  char head[160];
  int n = std::snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\n\r\n",
                        status, reason, body.size());
  c.out.append(head, static_cast<std::size_t>(n));
  c.out.append(body);
}

// HMAC-SHA256 as lowercase hex, with one EVP_MAC context made once (as kiwid does): OpenSSL 3's
// one-shot HMAC() looks the algorithm up on every call.
std::string hex_hmac(const std::string& secret, std::string_view body) {
  static EVP_MAC_CTX* ctx = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* c = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_CTX_set_params(c, params);
    return c;
  }();
  unsigned char mac[32];
  std::size_t len = 0;
  EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), nullptr);
  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  EVP_MAC_final(ctx, mac, &len, sizeof mac);
  static const char* digits = "0123456789abcdef";
  std::string out(64, '0');
  for (int i = 0; i < 32; ++i) {
    out[2 * i] = digits[mac[i] >> 4];
    out[2 * i + 1] = digits[mac[i] & 15];
  }
  return out;
}

std::string iso_now(long long& ms) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  ms = static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<int>(ts.tv_nsec / 1000000));
  return buf;
}

// JSON string contents: the values taken from the push are escaped as kiwid's events need.
void append_escaped(std::string& out, std::string_view s) {
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += ch;
    }
  }
}

struct floor_server {
  std::string secret, branch, sha1;
  simdjson::dom::parser parser;
  unsigned long long next_id = 0;
  std::vector<job> batch;

  // One complete request: answered now (refused) or added to the batch.
  void handle(const std::shared_ptr<connection>& conn, std::string_view head,
              std::string_view body) {
    connection& c = *conn;
    if (header(head, "X-GitHub-Event") != "push") {
      respond(c, 400, R"({"error":"only push events"})");
      return;
    }
    std::string_view sig = header(head, "X-Hub-Signature-256");
    std::string mac = hex_hmac(secret, body);
    if (sig.size() != 71 || sig.substr(0, 7) != "sha256=" ||
        CRYPTO_memcmp(sig.data() + 7, mac.data(), 64) != 0) {
      respond(c, 400, R"({"error":"bad signature"})");  // kiwid: 401; refusals are not measured
      return;
    }
    simdjson::dom::element doc;
    if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
      respond(c, 400, R"({"error":"body is not valid JSON"})");
      return;
    }
    std::string_view ref, after, before, pusher, message;
    if (doc["ref"].get(ref) || doc["after"].get(after) || doc["before"].get(before)) {
      respond(c, 400, R"({"error":"ref, before and after are required"})");
      return;
    }
    if (doc["pusher"]["name"].get(pusher)) pusher = {};  // optional
    if (doc["head_commit"]["message"].get(message)) message = {};
    if (!ref.starts_with("refs/heads/") || ref.substr(11) != branch) {
      respond(c, 200, R"({"status":"ignored"})");
      return;
    }
    job j;
    j.conn = conn;
    char id[40];
    std::snprintf(id, sizeof id, "floor%d-%llu", static_cast<int>(getpid()), ++next_id);
    j.build_id = id;
    long long ms = 0;
    std::string ts = iso_now(ms);
    std::string event = R"({"v":1,"type":"build.queued","build_id":")";
    event += j.build_id;
    event += R"(","service":"bench","ref":")";
    append_escaped(event, ref);
    event += R"(","sha":")";
    append_escaped(event, after);
    event += R"(","stage":"","status":"queued","ts":")";
    event += ts;
    event += R"(","message":"push by )";
    append_escaped(event, pusher);
    event += R"(","seq":1})";
    std::string_view delivery = header(head, "X-GitHub-Delivery");
    j.args = {"EVALSHA",
              sha1,
              "3",
              "floor:delivery:" + std::string(delivery),
              "floor:build:" + j.build_id,
              "floor:queue",
              j.build_id,
              "bench",
              std::string(ref),
              std::string(after),
              std::string(before),
              std::string(pusher),
              std::string(message),
              std::to_string(ms),
              std::move(event)};
    batch.push_back(std::move(j));
  }

  // Takes every complete request off c.in.
  void parse(const std::shared_ptr<connection>& conn) {
    connection& c = *conn;
    std::size_t used = 0;
    for (;;) {
      std::string_view rest = std::string_view(c.in).substr(used);
      std::size_t end = rest.find("\r\n\r\n");
      if (end == std::string_view::npos) break;
      std::string_view head = rest.substr(0, end + 2);
      std::string_view length = header(head, "Content-Length");
      std::size_t n = std::strtoul(std::string(length).c_str(), nullptr, 10);
      if (rest.size() < end + 4 + n) break;
      handle(conn, head, rest.substr(end + 4, n));
      used += end + 4 + n;
    }
    c.in.erase(0, used);
  }

  int redis_fd = -1;
  std::string redis_out;
  std::deque<job> pending;  // sent, in reply order
  redisReader* reader = redisReaderCreate();
  std::vector<std::shared_ptr<connection>> answered;  // connections with answers to send

  // The batch's scripts, appended to what goes to Redis next.
  void send_batch() {
    for (job& j : batch) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lens;
      for (const auto& a : j.args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      char* cmd = nullptr;
      int len = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), argv.data(),
                                       lens.data());
      redis_out.append(cmd, static_cast<std::size_t>(len));
      redisFreeCommand(cmd);
      pending.push_back(std::move(j));
    }
    batch.clear();
    while (!redis_out.empty()) {
      ssize_t n = send(redis_fd, redis_out.data(), redis_out.size(), MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;  // EPOLLOUT resumes
      if (n < 0) fail("write to Redis failed");
      redis_out.erase(0, static_cast<std::size_t>(n));
    }
  }

  // Redis' replies so far, each answering the oldest pending request.
  void read_replies() {
    char buf[65536];
    for (;;) {
      ssize_t n = recv(redis_fd, buf, sizeof buf, 0);
      if (n > 0) {
        redisReaderFeed(reader, buf, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < sizeof buf) break;
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        break;
      } else {
        fail("Redis closed the connection");
      }
    }
    void* r = nullptr;
    while (redisReaderGetReply(reader, &r) == REDIS_OK && r != nullptr) {
      auto* reply = static_cast<redisReply*>(r);
      if (reply->type != REDIS_REPLY_INTEGER || pending.empty()) {
        fail(reply->str ? reply->str : "unexpected reply");
      }
      job& j = pending.front();
      if (!j.conn->closed) {
        if (reply->integer == 1) {
          respond(*j.conn, 202, R"({"build_id":")" + j.build_id + R"(","status":"queued"})");
        } else {
          respond(*j.conn, 200, R"({"status":"duplicate"})");
        }
        answered.push_back(j.conn);
      }
      pending.pop_front();
      freeReplyObject(reply);
      r = nullptr;
    }
  }

  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "ingest_floor: Redis: %s\n", what);
    std::exit(1);
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <redis-port> <webhook-secret> <branch>\n", argv[0]);
    return 2;
  }
  std::signal(SIGTERM, [](int) { stop = 1; });
  std::signal(SIGINT, [](int) { stop = 1; });
  std::signal(SIGPIPE, SIG_IGN);
  floor_server s;
  s.secret = argv[2];
  s.branch = argv[3];
  redisContext* redis = redisConnect("127.0.0.1", std::atoi(argv[1]));
  if (redis == nullptr || redis->err) {
    std::fprintf(stderr, "ingest_floor: cannot connect to Redis\n");
    return 1;
  }
  auto* loaded = static_cast<redisReply*>(redisCommand(redis, "SCRIPT LOAD %s", kScript));
  if (loaded == nullptr || loaded->type != REDIS_REPLY_STRING) {
    std::fprintf(stderr, "ingest_floor: SCRIPT LOAD failed\n");
    return 1;
  }
  s.sha1 = loaded->str;
  freeReplyObject(loaded);
  // From here the connection is driven by hand: non-blocking, in the epoll loop.
  s.redis_fd = redis->fd;
  fcntl(s.redis_fd, F_SETFL, fcntl(s.redis_fd, F_GETFL) | O_NONBLOCK);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int reuse = 1;  // FLOOR_PORT: several floors may share one port (SO_REUSEPORT)
  setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &reuse, sizeof reuse);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (const char* p = std::getenv("FLOOR_PORT")) addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(p)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof addr;
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 1024) != 0 ||
      getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) {
    std::perror("ingest_floor: listen");
    return 1;
  }
  std::printf("port %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);

  int ep = epoll_create1(0);
  connection listener, redis_conn;  // tags for epoll's data.ptr
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &listener;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.ptr = &redis_conn;
  epoll_ctl(ep, EPOLL_CTL_ADD, s.redis_fd, &ev);
  bool redis_wants_out = false;
  std::unordered_map<connection*, std::shared_ptr<connection>> conns;
  std::vector<connection*> dead;
  epoll_event events[256];
  char buf[65536];
  while (!stop) {
    int n = epoll_wait(ep, events, 256, 200);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &listener) {
        for (int fd; (fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto c = std::make_shared<connection>();
          c->fd = fd;
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.ptr = c.get();
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
          conns.emplace(c.get(), std::move(c));
        }
        continue;
      }
      if (tag == &redis_conn) {
        if (events[i].events & EPOLLIN) s.read_replies();
        continue;
      }
      const std::shared_ptr<connection>& c = conns.at(static_cast<connection*>(tag));
      for (;;) {
        ssize_t got = recv(c->fd, buf, sizeof buf, 0);
        if (got > 0) {
          c->in.append(buf, static_cast<std::size_t>(got));
          if (static_cast<std::size_t>(got) < sizeof buf) break;
        } else {
          if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
            c->closed = true;
            dead.push_back(c.get());
          }
          break;
        }
      }
      if (!c->closed) {
        s.parse(c);
        if (!c->out.empty()) s.answered.push_back(c);  // refused without Redis
      }
    }
    s.send_batch();
    if (redis_wants_out != !s.redis_out.empty()) {
      redis_wants_out = !s.redis_out.empty();
      ev.events = EPOLLIN | (redis_wants_out ? static_cast<std::uint32_t>(EPOLLOUT) : 0U);
      ev.data.ptr = &redis_conn;
      epoll_ctl(ep, EPOLL_CTL_MOD, s.redis_fd, &ev);
    }
    for (const auto& c : s.answered) {
      // Answers are small: a loopback socket takes them whole; a client that stops reading is
      // dropped rather than buffered for.
      if (!c->out.empty() && !c->closed) {
        ssize_t sent = send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
        if (sent != static_cast<ssize_t>(c->out.size())) {
          c->closed = true;
          dead.push_back(c.get());
        }
        c->out.clear();
      }
    }
    s.answered.clear();
    for (connection* c : dead) {
      epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
      close(c->fd);
      conns.erase(c);  // a job still waiting for Redis keeps its connection object
    }
    dead.clear();
  }
  return 0;
}
