"""CLIP's symmetric contrastive loss written as in the paper's pseudocode, equal to a tiny
transformers.CLIPModel with return_loss=True; then the size of the real ViT-B/32 CLIP, counted on
the meta device (no weights are made or downloaded)."""

# --8<-- [start:tiny]
import torch
from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)  # before building the model: its weights are float64 too
config = CLIPConfig(
    text_config=CLIPTextConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=4, max_position_embeddings=8,
                               bos_token_id=0, eos_token_id=1, pad_token_id=2),
    vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, image_size=8, patch_size=4, num_channels=1),
    projection_dim=16,  # the shared embedding space
)
model = CLIPModel(config).eval()
n = 6  # a batch of 6 (image, caption) pairs
pixel_values = torch.randn(n, 1, 8, 8)  # 6 one-channel 8x8 images: (8 / 4)^2 = 4 patches each
input_ids = torch.randint(3, 32, (n, 5))
input_ids[:, -1] = 1  # CLIP's text embedding is read at the end-of-text token
with torch.no_grad():
    out = model(input_ids=input_ids, pixel_values=pixel_values, return_loss=True)
    I_f = model.get_image_features(pixel_values=pixel_values).pooler_output  # (n, 16) image encoder + projection
    T_f = model.get_text_features(input_ids=input_ids).pooler_output  # (n, 16) text encoder + projection
    t = model.logit_scale  # the learned log-temperature, starts at log(1 / 0.07)
print("image and text embeddings:", tuple(I_f.shape), tuple(T_f.shape),
      f"| scale exp(t) = {t.exp().item():.4f} = 1 / {1 / t.exp().item():.2f}")
# --8<-- [end:tiny]

# --8<-- [start:pseudocode]
import torch.nn.functional as F

# Radford et al. 2021, Figure 3, line by line
I_e = F.normalize(I_f, dim=1)  # I_e = l2_normalize(np.dot(I_f, W_i), axis=1)  (W_i is inside I_f here)
T_e = F.normalize(T_f, dim=1)  # T_e = l2_normalize(np.dot(T_f, W_t), axis=1)
logits = I_e @ T_e.T * t.exp()  # logits = np.dot(I_e, T_e.T) * np.exp(t)     (n, n)
labels = torch.arange(n)  # labels = np.arange(n): pair i sits on the diagonal
loss_i = F.cross_entropy(logits, labels)  # loss_i = cross_entropy_loss(logits, labels, axis=0)
loss_t = F.cross_entropy(logits.T, labels)  # loss_t = cross_entropy_loss(logits, labels, axis=1)
loss = (loss_i + loss_t) / 2
print(f"by hand: loss_i = {loss_i.item():.6f}, loss_t = {loss_t.item():.6f}, loss = {loss.item():.6f}")
print(f"CLIPModel(return_loss=True).loss = {out.loss.item():.6f}")
assert abs(loss.item() - out.loss.item()) < 1e-10
assert torch.allclose(logits, out.logits_per_image, rtol=0, atol=1e-10)

from genai_guide.clip import clip_loss

assert abs(clip_loss(I_f, T_f, t.exp()).item() - out.loss.item()) < 1e-10
print("genai_guide.clip.clip_loss equal to 1e-10: True")
print(f"chance level, log(n) = {torch.log(torch.tensor(float(n))).item():.6f}")
# --8<-- [end:pseudocode]

# --8<-- [start:sizes]
with torch.device("meta"):  # shapes only: no memory, no download
    vit_b32 = CLIPModel(CLIPConfig())  # the defaults are openai/clip-vit-base-patch32's sizes
vc, tc = vit_b32.config.vision_config, vit_b32.config.text_config
print(f"ViT-B/32: {vc.image_size} px, patch {vc.patch_size}, "
      f"{(vc.image_size // vc.patch_size) ** 2} patches + 1 class token; text: {tc.max_position_embeddings} tokens")
for name, part in [("vision encoder", vit_b32.vision_model), ("text encoder", vit_b32.text_model),
                   ("projections", [vit_b32.visual_projection, vit_b32.text_projection])]:
    modules = part if isinstance(part, list) else [part]
    print(f"  {name:<15}{sum(p.numel() for m in modules for p in m.parameters()):>12,}")
total = sum(p.numel() for p in vit_b32.parameters())
print(f"  {'total':<15}{total:>12,}  (the scale t is 1 of them)")
assert total == 151_277_313
# --8<-- [end:sizes]
