/*
 * client_verbs.c — the client verbs of the boxfs command (ls, cat, ...).
 */
#include "cli.h"

#include <stdio.h>

int cmd_client(int argc, char **argv)
{
	(void)argc;
	warnx_(argv[0], "unknown verb (try boxfs --help)");
	return 2;
}
