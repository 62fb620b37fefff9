/* The POP3 front door (pop3 and pop3s listeners): greeting, CAPA, STLS,
 * QUIT, and USER/PASS and AUTH (under TLS) into the TRANSACTION state. The
 * maildrop commands come with the POP3 engine on the mail store. */
#ifndef SUREL_POP3_POP3_SESSION_H
#define SUREL_POP3_POP3_SESSION_H

#include "server/session.h"

extern const struct protocol pop3_protocol;

#endif
