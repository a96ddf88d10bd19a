// rabbitmq-c (Debian librabbitmq-dev 0.11.0) for Swift. amqp_login is variadic and does not
// import into Swift: static inline wrappers for it (and any other helper Swift needs) go here.
#ifndef CLUSTERKIT_CRABBITMQ_SHIM_H
#define CLUSTERKIT_CRABBITMQ_SHIM_H
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#endif
