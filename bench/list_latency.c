/* The latency floor beside bench/queue_throughput's enqueue-to-start figure: the barest
 * hand-off Redis offers, LPUSH by one process to another blocked in BLPOP, at the same pace
 * (one item every 20 ms), on the bench's own Redis. Each item carries the producer's clock
 * (µs) just before the LPUSH; the consumer subtracts it from its own clock when BLPOP returns:
 * two network hops and two wake-ups of idle processes, nothing else. No queue that hands work
 * from one process to another through Redis can start a job sooner.
 *   list_latency PORT [N=200]
 * Prints: "list hand-off at 50/s: p50 X µs p99 Y µs (n=N)". Built by bench/queue_throughput
 * (cc list_latency.c -lhiredis). */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static int by_value(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return x < y ? -1 : x > y;
}

static redisContext* connect_or_die(int port) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == NULL || c->err) {
    fprintf(stderr, "list_latency: cannot connect to 127.0.0.1:%d\n", port);
    exit(1);
  }
  return c;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: list_latency PORT [N]\n");
    return 2;
  }
  const int port = atoi(argv[1]);
  const int n = argc > 2 ? atoi(argv[2]) : 200;
  redisContext* producer = connect_or_die(port);
  freeReplyObject(redisCommand(producer, "DEL kiwi-bench:handoff"));
  pid_t child = fork();
  if (child == 0) {
    redisContext* consumer = connect_or_die(port);
    long long* lat = malloc(sizeof(long long) * (size_t)n);
    for (int i = 0; i < n; ++i) {
      redisReply* r = redisCommand(consumer, "BLPOP kiwi-bench:handoff 10");
      if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        fprintf(stderr, "list_latency: BLPOP failed\n");
        _exit(1);
      }
      lat[i] = now_us() - atoll(r->element[1]->str);
      freeReplyObject(r);
    }
    qsort(lat, (size_t)n, sizeof(long long), by_value);
    printf("list hand-off at 50/s: p50 %lld µs p99 %lld µs (n=%d)\n", lat[n / 2],
           lat[n * 99 / 100], n);
    fflush(stdout);
    _exit(0);
  }
  usleep(300000); /* the consumer is blocked in BLPOP by now */
  for (int i = 0; i < n; ++i) {
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%lld", now_us());
    freeReplyObject(redisCommand(producer, "LPUSH kiwi-bench:handoff %s", stamp));
    usleep(20000);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
