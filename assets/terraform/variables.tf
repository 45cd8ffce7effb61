variable "cluster_name" {
  description = "Name of the cluster; prefixes every resource and tags it for teardown."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.cluster_name))
    error_message = "cluster_name must match [a-z][a-z0-9-]{0,30}."
  }
}

variable "owner_id" {
  description = "This workspace's owner id (12 hex digits, created with it): a tag on every object and part of every record comment."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{12}$", var.owner_id))
    error_message = "owner_id must be 12 lowercase hexadecimal digits."
  }
}

variable "region" {
  description = "Scaleway region holding every zone in var.zones (fr-par, nl-ams or pl-waw)."
  type        = string
}

variable "zones" {
  description = "Zones of the region; managers and workers are spread over them round-robin."
  type        = list(string)

  validation {
    condition     = length(var.zones) > 0
    error_message = "zones needs at least one zone."
  }
}

variable "image" {
  description = "Marketplace image label or local image UUID for every node."
  type        = string
  default     = "ubuntu_noble"
}

variable "manager_count" {
  description = "Number of swarm managers: 1, 3, 5 or 7 (an odd number keeps a quorum)."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7], var.manager_count)
    error_message = "manager_count must be 1, 3, 5 or 7."
  }
}

variable "manager_type" {
  description = "Scaleway commercial type of the managers, e.g. DEV1-S."
  type        = string
}

variable "worker_count" {
  description = "Number of swarm workers (0 or more)."
  type        = number
  default     = 0
}

variable "worker_type" {
  description = "Scaleway commercial type of the workers, e.g. DEV1-M."
  type        = string
}

variable "domain" {
  description = "A zone of the Cloudflare account; *.<domain> gets one A record per manager."
  type        = string
}

variable "subdomain" {
  description = "Records go to *.<subdomain>.<domain> (and <subdomain>.<domain> with apex_record); empty: below the domain."
  type        = string
  default     = ""
}

variable "apex_record" {
  description = "Also point <domain> itself at the managers."
  type        = bool
  default     = false
}

variable "ssh_public_key" {
  description = "OpenSSH public key allowed to log in as root on every node."
  type        = string
}

variable "ssh_allowed_cidrs" {
  description = "Source ranges allowed to reach TCP 22 on the public side."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "vpc_id" {
  description = "VPC of the private network (\"region/uuid\"); null means the project's default VPC."
  type        = string
  default     = null
}

variable "private_subnet" {
  description = "IPv4 subnet (/20 to /29) of the private network that carries all swarm traffic; unique in its VPC."
  type        = string
  default     = "172.16.8.0/22"
}
