package server

import "time"

// processStart approximates the exec time of the process: package
// initialisation runs before main.
var processStart = time.Now()
