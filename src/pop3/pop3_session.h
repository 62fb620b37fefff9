/* The POP3 front door (pop3 and pop3s listeners): greeting, CAPA, STLS,
 * QUIT. Authentication and the maildrop come with the POP3 engine. */
#ifndef SUREL_POP3_POP3_SESSION_H
#define SUREL_POP3_POP3_SESSION_H

#include "server/session.h"

extern const struct protocol pop3_protocol;

#endif
