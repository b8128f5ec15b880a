/* cmd -- pipehost subcommands that live in files of their own (as git's
 * builtin/ does; main.c dispatches).  Each takes the arguments after
 * "pipehost" (argv[0] is the command's name) and returns the exit status:
 * 0 ok, 1 the work failed, 2 usage or store error. */
#ifndef PH_CMD_H
#define PH_CMD_H

/* pipehost db clean ... (cmd_db.c) */
int ph_cmd_db(int argc, char **argv);

#endif
