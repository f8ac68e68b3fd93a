// Package ethtool owns xvs's use of the SIOCETHTOOL ioctl (what the ethtool
// command does), the one place the module talks to a driver that way: the
// number of receive queues a driver really uses (ETHTOOL_GCHANNELS, for
// the AF_XDP backend) and the legacy on/off value commands (ETHTOOL_G*/S*,
// for the test labs' offload switches). Each call opens a short-lived
// socket in the calling thread's network namespace.
package ethtool
