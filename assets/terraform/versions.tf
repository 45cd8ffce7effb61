terraform {
  required_version = ">= 1.5"

  required_providers {
    scaleway = {
      source  = "scaleway/scaleway"
      version = "~> 2.81"
    }
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.22"
    }
  }
}

# Credentials are never inputs of this module: the providers read SCW_ACCESS_KEY, SCW_SECRET_KEY,
# SCW_DEFAULT_PROJECT_ID and CLOUDFLARE_API_TOKEN from the environment that swarmwiz builds from the OS keyring.
provider "scaleway" {
  region = var.region
  zone   = var.zones[0]
}

provider "cloudflare" {}
