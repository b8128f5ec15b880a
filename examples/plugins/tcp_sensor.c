/* tcp_sensor -- waits until a TCP port accepts connections.
 * Build: cc -shared -fPIC $(pkg-config --cflags pipehost-plugin)
 *        tcp_sensor.c -o tcp_sensor.so */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pipehost/plugin.h>

static ph_status poke(const ph_host *h, ph_task *t, void *state,
                      int32_t *done) {
  const char *host = "127.0.0.1";
  int64_t port = 0;
  char service[16];
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  h->param_string(t, "host", &host);
  h->param_int(t, "port", &port);
  snprintf(service, sizeof service, "%lld", (long long)port);
  *done = 0;
  if (getaddrinfo(host, service, &hints, &ai) != 0)
    return PH_OK; /* not resolvable yet: poke again */
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  *done = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
  if (fd >= 0)
    close(fd);
  freeaddrinfo(ai);
  return PH_OK;
}

static const ph_param p_host = {PH_PARAM_INIT, .name = "host", .type = "string",
                                .default_json = "\"127.0.0.1\"",
                                .doc = "the host to connect to"};
static const ph_param p_port = {PH_PARAM_INIT,
                                .name = "port",
                                .type = "integer",
                                .flags = PH_PARAM_REQUIRED | PH_PARAM_RANGE |
                                         PH_PARAM_TEMPLATED,
                                .doc = "the TCP port",
                                .minimum = 1,
                                .maximum = 65535};
static const ph_param *const params[] = {&p_host, &p_port, NULL};
static const ph_operator op = {
    PH_OPERATOR_INIT,       .type = "tcp_sensor", .doc = "waits for a TCP port",
    .kind = PH_KIND_SENSOR, .params = params,     .poke2 = poke};
static const ph_operator *const ops[] = {&op, NULL};
static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "tcp_sensor",
                                 .version = "1.0",
                                 .license = "MIT",
                                 .description = "TCP port sensor",
                                 .operators = ops};
PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
