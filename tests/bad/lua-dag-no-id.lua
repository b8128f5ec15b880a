local ph = require "pipehost"
ph.dag{}
