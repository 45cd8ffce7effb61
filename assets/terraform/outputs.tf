output "nodes" {
  description = "Every node with its role, zone, addresses and server id."
  value = {
    for key, node in local.nodes : key => {
      name      = scaleway_instance_server.node[key].name
      role      = node.role
      type      = node.type
      zone      = node.zone
      id        = scaleway_instance_server.node[key].id
      public_ip = scaleway_instance_ip.node[key].address
      # private_ips lists IPAM's addresses, the IPv6 one usually first: the swarm advertises the IPv4 one.
      private_ip = try([for ip in scaleway_instance_server.node[key].private_ips : ip.address if !strcontains(ip.address, ":")][0], null)
    }
  }
}

output "dns_records" {
  description = "The A records pointing at the managers."
  value = [
    for r in concat(values(cloudflare_dns_record.wildcard), values(cloudflare_dns_record.apex)) : {
      id      = r.id
      name    = r.name
      type    = r.type
      content = r.content
    }
  ]
}

output "private_network_id" {
  value = scaleway_vpc_private_network.swarm.id
}

output "zone_id" {
  description = "The Cloudflare zone holding the records."
  value       = data.cloudflare_zone.this.zone_id
}
