package server

// processStart is when the process started, for the "ready in" line: the
// exec time as the kernel records it where it says (package initialisation
// before main is a third of the start-up), else the time this package was
// initialised.
var processStart = execTime()
