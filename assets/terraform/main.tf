locals {
  prefix = "swarmwiz-${var.cluster_name}"
  # The owner id (random, created with the workspace) tells this workspace's objects from those of another
  # workspace that uses the same cluster name; swarmwiz deletes nothing that does not carry it.
  tags = ["swarmwiz", "swarmwiz-cluster=${var.cluster_name}", "swarmwiz-owner=${var.owner_id}"]

  # One entry per node, keyed "manager-1" ... "worker-N" so that scaling changes only the highest indexes.
  # Nodes are spread round-robin over the zones, managers and workers each starting at the first zone.
  managers = {
    for i in range(var.manager_count) : "manager-${i + 1}" => {
      role = "manager"
      type = var.manager_type
      zone = var.zones[i % length(var.zones)]
    }
  }
  workers = {
    for i in range(var.worker_count) : "worker-${i + 1}" => {
      role = "worker"
      type = var.worker_type
      zone = var.zones[i % length(var.zones)]
    }
  }
  nodes = merge(local.managers, local.workers)
}

# Project SSH key: Scaleway injects it into every new instance at boot.
resource "scaleway_iam_ssh_key" "admin" {
  name       = "${local.prefix}-${var.owner_id}"
  public_key = trimspace(var.ssh_public_key)
}

# Regional private network: swarm control (2377/tcp), gossip (7946/tcp+udp), overlay VXLAN (4789/udp) and
# ESP (IP protocol 50) for encrypted overlays travel only here. Security groups do not filter it.
# It joins var.vpc_id: the project's default VPC, or swarmwiz's own VPC (created through the API once per project
# and region, shared by every cluster there, never deleted by a teardown), chosen by swarmwiz/core/network.py.
resource "scaleway_vpc_private_network" "swarm" {
  name   = "${local.prefix}-swarm"
  region = var.region
  vpc_id = var.vpc_id
  tags   = local.tags

  ipv4_subnet {
    subnet = var.private_subnet
  }
}

# Public side, one group per zone (security groups are zonal): drop everything inbound except SSH from the
# allowed ranges and HTTP/HTTPS from anywhere. There is no Docker API on TCP, ever.
resource "scaleway_instance_security_group" "public" {
  for_each = toset(var.zones)

  name                    = "${local.prefix}-${each.key}"
  zone                    = each.key
  inbound_default_policy  = "drop"
  outbound_default_policy = "accept"
  stateful                = true
  tags                    = local.tags

  dynamic "inbound_rule" {
    for_each = var.ssh_allowed_cidrs
    content {
      action   = "accept"
      protocol = "TCP"
      port     = 22
      ip_range = inbound_rule.value
    }
  }

  inbound_rule {
    action   = "accept"
    protocol = "TCP"
    port     = 80
  }

  inbound_rule {
    action   = "accept"
    protocol = "TCP"
    port     = 443
  }
}

resource "scaleway_instance_ip" "node" {
  for_each = local.nodes

  type = "routed_ipv4"
  zone = each.value.zone
  tags = concat(local.tags, ["swarmwiz-node=${each.key}"])
}

resource "scaleway_instance_server" "node" {
  for_each = local.nodes

  name              = "${var.cluster_name}-${each.key}"
  type              = each.value.type
  zone              = each.value.zone
  image             = var.image
  ip_id             = scaleway_instance_ip.node[each.key].id
  security_group_id = scaleway_instance_security_group.public[each.value.zone].id
  tags              = concat(local.tags, ["swarmwiz-role=${each.value.role}", "swarmwiz-node=${each.key}"])

  private_network {
    pn_id = scaleway_vpc_private_network.swarm.id
  }

  # No host key travels here: the node generates its own and publishes the fingerprints in its user data
  # (ssh-host-fingerprints), which swarmwiz reads over the authenticated API and pins before its first connection.
  cloud_init = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    hostname       = "${var.cluster_name}-${each.key}"
    authorized_key = trimspace(var.ssh_public_key)
  })

  depends_on = [scaleway_iam_ssh_key.admin]
}

# Wildcard DNS: one A record per manager, so *.domain keeps answering when a manager is down. TTL 1 is Cloudflare's
# "automatic" (any other value must be 60-86400).
locals {
  dns_name = var.subdomain == "" ? var.domain : "${var.subdomain}.${var.domain}"
}

data "cloudflare_zone" "this" {
  filter = {
    name = var.domain
  }
}

resource "cloudflare_dns_record" "wildcard" {
  for_each = local.managers

  zone_id = data.cloudflare_zone.this.zone_id
  name    = "*.${local.dns_name}"
  type    = "A"
  content = scaleway_instance_ip.node[each.key].address
  ttl     = 1
  proxied = false
  comment = "swarmwiz:${var.cluster_name}:${var.owner_id}:${each.key}"
}

resource "cloudflare_dns_record" "apex" {
  for_each = var.apex_record ? local.managers : {}

  zone_id = data.cloudflare_zone.this.zone_id
  name    = local.dns_name
  type    = "A"
  content = scaleway_instance_ip.node[each.key].address
  ttl     = 1
  proxied = false
  comment = "swarmwiz:${var.cluster_name}:${var.owner_id}:${each.key}"
}
